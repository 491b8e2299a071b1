// The `krbd` command: map, unmap, list and check rbd images through the kernel's rbd bus.
// Add a subcommand by writing its file and listing it in `subcommands` below.
import ArgumentParser
import KRBD

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

@main
struct Krbd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "krbd",
        abstract: "Map Ceph RBD images with the kernel's rbd driver and mount them for workloads, without the rbd CLI.",
        discussion: """
            Errors are one line on stderr, `krbd: <message>`, and a stable exit code:
            \(ExitCodes.table)
            """,
        version: krbdVersion,
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
            ExpandCommand.self,
            StatsCommand.self,
        ]
    )

    /// Parses and runs, reporting a usage error in one line on stderr (`krbd: <what>; see krbd
    /// <command> --help`) with exit code 64, as every other error; `--help` prints to stdout.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)  // already reported on one line by the command
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let subcommand = arguments.first { !$0.hasPrefix("-") }.map { " " + $0 } ?? ""
            let message = message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            printError("krbd: \(message); see krbd\(subcommand) --help")
            Glibc.exit(code.rawValue)
        }
    }
}
