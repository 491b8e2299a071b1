// The `krbd` command: map, unmap, list and check rbd images through the kernel's rbd bus.
// Add a subcommand by writing its file and listing it in `subcommands` below.
import ArgumentParser

@main
struct Krbd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "krbd",
        abstract: "Map Ceph RBD images with the kernel's rbd driver and mount them for workloads, without the rbd CLI.",
        discussion: """
            Errors are one line on stderr, `krbd: <message>`, and a stable exit code:
            \(ExitCodes.table)
            """,
        subcommands: [
            MapCommand.self,
            UnmapCommand.self,
            ListCommand.self,
            DoctorCommand.self,
            AttachCommand.self,
            SetUpCommand.self,
            TearDownCommand.self,
            DetachCommand.self,
            StatusCommand.self,
        ]
    )
}
