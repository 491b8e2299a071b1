// The `krbd` command as a user runs it (tier 1: fixture sysfs trees through the hidden --sysfs,
// --dev and --lock-file roots; no root needed): output, one-line errors, stable exit codes, and
// no byte of a secret on stdout or stderr.
import Foundation
import SystemPackage
import Testing

@testable import KRBD

@Suite struct CLITests {
    /// The `krbd` binary next to the test bundle (`swift build --build-tests` builds both).
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("krbd").path

    func krbd(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary), "build krbd first: swift build --build-tests")
        return try runTool(Self.binary, arguments)
    }

    func roots(_ fake: FakeRBDKernel) -> [String] {
        [
            "--sysfs", fake.sysfs.string, "--dev", fake.dev.string, "--lock-file",
            fake.root.appending("krbd.lock").string,
        ]
    }

    @Test func listShowsDevicesAsTableAndJSON() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        fake.addDevice(id: 0, image: "plain")
        fake.addDevice(id: 3, namespace: "ns1", image: "nsimg", snapshot: "s1")
        let table = try krbd(["list"] + roots(fake))
        #expect(table.status == 0)
        let lines = table.output.split(separator: "\n").map(String.init)
        #expect(
            lines.first?.split(separator: " ", omittingEmptySubsequences: true)
                == ["id", "pool", "namespace", "image", "snap", "device"])
        #expect(
            lines.contains { $0.hasPrefix("3 ") && $0.contains("ns1") && $0.contains("nsimg") && $0.contains("s1") })
        let json = try krbd(["list", "--json"] + roots(fake))
        // rbd device list --format json's fields, names and types; ours beside them.
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        #expect(decoded.map { $0["id"] as? String } == ["0", "3"])
        #expect(decoded.map { $0["name"] as? String } == ["plain", "nsimg"])
        #expect(decoded.map { $0["snap"] as? String } == ["-", "s1"])
        #expect(decoded.map { $0["namespace"] as? String } == ["", "ns1"])
        #expect(decoded[0]["device"] as? String == fake.dev.appending("rbd0").string)
        #expect(decoded[0]["clusterFSID"] as? String == fake.fsid && decoded[0]["configInfo"] == nil)
        // The device number as two numbers beside them, as before it was one value.
        #expect(decoded.map { $0["major"] as? Int } == [254, 254] && decoded.map { $0["minor"] as? Int } == [0, 48])
    }

    @Test(
        arguments: [
            (["map", "rbd/bad name", "--mon", "127.0.0.1"], Int32(10)),
            (["map", "rbd/img@", "--mon", "127.0.0.1"], 10),
            (["map", "rbd/img", "--mon", "127.0.0.1", "-o", "bogus=1"], 11),
            (["map", "rbd/img", "--mon", "127.0.0.1", "-o", "ms_mode=fast"], 11),
            (["map", "rbd/img", "--mon", "ceph-mon.example"], 12),
            (["map", "rbd/img", "--mon", "127.0.0.1", "--secret-file", "/nonexistent/krbd-key"], 13),
            (["map"], 64),
            (["attach"], 64),
            (["attach", "rbd/img", "--fencing", "sometimes"], 64),
            (["setup", "rbd/img"], 64),
        ] as [([String], Int32)])
    func badInputIsOneLineWithAStableCodeAndWritesNothing(_ arguments: [String], _ code: Int32) throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let result = try krbd(arguments + roots(fake))
        #expect(result.status == code, "\(result.output)")
        // Usage errors too: one line, naming the help to read (issue 11.8).
        #expect(
            result.output.hasPrefix("krbd: ") && result.output.split(separator: "\n").count == 1, "\(result.output)")
        if code == 64 { #expect(result.output.contains("--help")) }
        #expect(try dir.read("sys/bus/rbd/add_single_major").isEmpty)
    }

    /// stats and expand of a volume that is not attached: one line and the volume code (59
    /// notFound, 51 notAttached), nothing mapped.
    @Test func statsAndExpandOfAVolumeNotAttached() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        for (command, code) in [("stats", Int32(59)), ("expand", 51)] {
            let result = try krbd(
                [command, "rbd/img", "--mon", "127.0.0.1", "--root", dir("node").string] + roots(fake))
            #expect(result.status == code, "\(command): \(result.output)")
            #expect(
                result.output.hasPrefix("krbd: ") && result.output.split(separator: "\n").count == 1, "\(result.output)"
            )
            #expect(result.output.contains("not attached"))
        }
        #expect(try dir.read("sys/bus/rbd/add_single_major").isEmpty)
    }

    @Test func theSecretNeverReachesTheTerminal() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let keyFile = try dir.write("client.admin.key", testKey + "\n")
        // This host has no ceph key type (no libceph): add_key fails, the error is typed.
        let result = try krbd(
            ["map", "rbd/plain", "--mon", "127.0.0.1", "--secret-file", keyFile.string] + roots(fake))
        #expect(result.status != 0)
        #expect(
            !result.output.contains(testKey) && !result.output.contains(String(testKey.prefix(12))), "\(result.output)")
        let optIn = try krbd(
            ["map", "rbd/plain", "--mon", "127.0.0.1", "--secret-file", keyFile.string, "--secret-in-request"]
                + roots(fake))
        #expect(!optIn.output.contains(testKey), "\(optIn.output)")
    }

    /// teardown and detach of a volume that is not set up or attached: success, saying so.
    @Test func teardownAndDetachOfNothingAreSuccessAndSaySo() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let volume = ["rbd/img", "--mon", "127.0.0.1", "--root", dir("node").string] + roots(fake)
        let teardown = try krbd(["teardown"] + volume + ["--pod", "pod-1"])
        #expect(teardown.status == 0 && teardown.output.hasPrefix("not set up: "), "\(teardown.output)")
        let detach = try krbd(["detach"] + volume)
        #expect(detach.status == 0 && detach.output.hasPrefix("not attached: rbd:rbd/img"), "\(detach.output)")
        #expect(try dir.read("sys/bus/rbd/remove_single_major").isEmpty)
    }

    @Test func unmapOfNothingIsSuccessAndDoctorSpeaksJSON() throws {
        let dir = try TemporaryDirectory()
        let fake = try FakeRBDKernel(in: dir)
        let unmap = try krbd(["unmap", "rbd/plain"] + roots(fake))
        #expect(unmap.status == 0 && unmap.output.contains("not mapped: rbd/plain"), "\(unmap.output)")
        let doctor = try krbd(["doctor", "--json"] + roots(fake))
        let checks = try JSONDecoder().decode([DoctorCheck].self, from: Data(doctor.output.utf8))
        #expect(checks.contains { $0.name.contains("rbd") })
    }

    @Test func helpNamesEachCodeOnceWithItsLayer() throws {
        let help = try krbd(["--help"])
        #expect(help.status == 0)
        let rows = help.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            .filter { $0.count >= 2 && Int($0[0]) != nil }
        let names = rows.map { $0[1] }
        #expect(Set(names).count == names.count, "\(names)")
        #expect(rows.contains { $0.prefix(2) == ["40", "rbd.busy"] })
        #expect(rows.contains { $0.prefix(2) == ["75", "mount.busy"] })
        #expect(rows.contains { $0.prefix(2) == ["30", "rbd.notFound"] })
        #expect(rows.contains { $0.prefix(2) == ["59", "volume.notFound"] })
        #expect(!names.contains { $0.contains("-") || $0.hasSuffix("blocklistDenied") }, "\(names)")
    }
}
