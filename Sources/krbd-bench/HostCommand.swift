import ArgumentParser
import SystemPackage

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract:
            "Device lookup on fixture sysfs trees, ours' bookkeeping around the kernel and the ownership walk, on this machine.",
        discussion: "The ownership part needs root (it gives a 200k-file scratch tree to another group).")

    @Flag(help: "Smaller trees and fewer batches (a smoke run).")
    var quick = false

    @Option(help: "Which part to run: all, lookup, bookkeeping or ownership.")
    var part: String = "all"

    @Option(help: "Directory on the host's disk for the scratch trees.")
    var scratch: String = "/var/tmp"

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ["all", "lookup", "bookkeeping", "ownership"].contains(part) else {
            throw ValidationError("--part must be all, lookup, bookkeeping or ownership")
        }
    }

    func run() throws {
        var sections: [String] = []
        if part == "all" || part == "lookup" {
            sections.append(
                try LookupBench.run(sizes: [16, 256, 4096], batches: quick ? 3 : 7, scratch: FilePath(scratch)))
        }
        if part == "all" || part == "bookkeeping" {
            sections.append(try BookkeepingBench.run(batches: quick ? 3 : 7, scratch: FilePath(scratch)))
        }
        if part == "all" || part == "ownership" {
            sections.append(
                try OwnershipBench.run(
                    directories: quick ? 20 : 200, files: 1000, runs: quick ? 1 : 5, scratch: FilePath(scratch)))
        }
        try emit(sections.joined(separator: "\n\n"), to: output.output)
    }
}
