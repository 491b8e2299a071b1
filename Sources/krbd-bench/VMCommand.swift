import ArgumentParser

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Map, attach and detach on the real rbd.ko (inside scripts/sandbox).")

    @Option(help: "Runs per variant (median).")
    var runs = 10

    @OptionGroup var output: OutputOptions

    func run() throws {}
}
