// map and unmap, cold (no other mapping: a new kernel client each time) and warm (another
// mapping of the cluster keeps the client): RBDBus vs the raw write vs `rbd device map/unmap`.
import KRBD
import LinuxSystem
import SystemPackage

/// Samples in seconds of one operation, by variant.
struct Samples {
    var ours: [Double] = []
    var floor: [Double] = []
    var cli: [Double] = []
}

struct MapBench {
    let cluster: Cluster
    let bus = RBDBus()
    let image: ImageSpec
    /// Maps the same request in every variant: no mount_timeout (rbd's CLI sends none), so
    /// that all three can share the kernel client of the warm holder.
    var options: MapOptions {
        var options = MapOptions()
        options.mountTimeout = nil
        return options
    }

    /// Results of one mode: map and unmap samples, and which variants shared the holder's client.
    struct Result {
        var map = Samples()
        var unmap = Samples()
        var sharedClient: [String] = []
        var request = ""
    }

    func run(warm: Bool, runs: Int, cliRuns: Int) throws -> Result {
        guard try bus.mappedDevices().isEmpty else {
            throw BenchError("rbd devices are mapped already; the bench needs none")
        }
        var holder: MappedDevice?
        if warm {
            holder = try bus.map(
                try ImageSpec(parsing: "rbd/snapimg@s1"), monitors: cluster.monitors,
                credentials: cluster.credentials, options: options
            ).device
        }
        defer { if let holder { _ = try? bus.unmap(holder) } }
        var result = Result()
        var shared: [String: Int] = [:]
        func noteClient(_ variant: String, _ id: Int) {
            guard let holder, let client = try? Files.readAttribute(FilePath("\(Floor.devices)/\(id)/client_id")) else {
                return
            }
            if client == holder.clientID { shared[variant, default: 0] += 1 }
        }
        // The floor writes exactly what ours wrote (config_info is the request as the kernel got it).
        let first = try bus.map(image, monitors: cluster.monitors, credentials: cluster.credentials, options: options)
            .device
        guard let request = first.configInfo else { throw BenchError("no config_info on \(first)") }
        result.request = request
        try bus.unmap(first)
        try takeTurns(
            runs: runs, cliRuns: cliRuns, label: "map \(warm ? "warm" : "cold")",
            ours: {
                var device: MappedDevice?
                result.map.ours.append(
                    try seconds {
                        device = try bus.map(
                            image, monitors: cluster.monitors, credentials: cluster.credentials, options: options
                        ).device
                    })
                guard let device else { throw BenchError("map returned nothing") }
                noteClient("ours", device.id)
                result.unmap.ours.append(try seconds { try bus.unmap(device) })
            },
            floor: {
                let before = try Floor.deviceIDs()
                result.map.floor.append(try seconds { try Floor.add(Array(request.utf8), cluster) })
                let id = try Floor.newID(before, try Floor.deviceIDs())
                noteClient("floor", id)
                result.unmap.floor.append(try seconds { try Floor.remove(id) })
            },
            cli: {
                var output = ""
                result.map.cli.append(
                    try seconds {
                        output = try runTool(
                            ["rbd", "device", "map", "-o", "noudev"] + cluster.cliArguments + ["\(image)"]
                        ).output
                    })
                guard let node = output.split(separator: "\n").first(where: { $0.hasPrefix("/dev/rbd") }),
                    let cliID = Int(node.dropFirst("/dev/rbd".count))
                else { throw BenchError("rbd device map printed \(output)") }
                noteClient("CLI", cliID)
                result.unmap.cli.append(
                    try seconds {
                        try runTool(["rbd", "device", "unmap", "-o", "noudev"] + cluster.cliArguments + [String(node)])
                    })
            })
        result.sharedClient = [("ours", runs), ("floor", runs), ("CLI", result.map.cli.count)].map {
            "\($0) \(shared[$0] ?? 0)/\($1)"
        }
        return result
    }
}
