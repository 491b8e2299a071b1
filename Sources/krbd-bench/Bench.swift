// krbd-bench: ours against the bare syscalls (the floor) and against the CLI path, measured side
// by side in one run and printed as Markdown ratios (scripts/bench). Nothing here asserts a time.
import ArgumentParser

@main
struct KrbdBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "krbd-bench",
        abstract: "Benchmarks of swift-krbd: ours vs the raw syscalls vs the CLI tools.",
        discussion: """
            `host` runs on this machine (fixture sysfs trees, the ownership walk); `vm` needs the real \
            rbd.ko and a cluster (run it inside scripts/sandbox). Both print a Markdown section.
            """,
        subcommands: [HostCommand.self, VMCommand.self, StepsCommand.self, CountCommand.self])
}

/// Where a subcommand writes its Markdown section.
struct OutputOptions: ParsableArguments {
    @Option(help: "Write the Markdown section to this file instead of standard output.")
    var output: String?
}
