import ArgumentParser
import KRBD

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract:
            "Check this host for krbd: kernel, rbd module, single_major, features, keyring, capabilities, /dev, modprobe.",
        discussion: "Exits 1 when a check fails.")

    @Flag(help: "Print the checks as JSON.")
    var json = false

    @OptionGroup var roots: RootOptions

    func run() throws {
        let checks = roots.bus.doctor()
        if json {
            print(try jsonText(checks))
        } else {
            print(textTable(checks.map { [$0.verdict.rawValue.uppercased(), $0.name, $0.detail] }))
        }
        if checks.contains(where: { $0.verdict == .fail }) { throw ExitCode(1) }
    }
}
