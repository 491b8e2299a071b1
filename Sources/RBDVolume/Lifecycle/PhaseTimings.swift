import LinuxSystem

/// How long each phase of one operation took (map, probe, mkfs, mount, bind, chown, unmount,
/// unmap, …), in the order they ran.
public struct PhaseTimings: Sendable, Codable, Equatable, CustomStringConvertible {
    /// One measured phase.
    public struct Phase: Sendable, Codable, Equatable {
        /// The phase's name (`map`, `probe`, `mkfs`, `mount`, `bind`, `chown`, `unmount`, `unmap`, …).
        public var name: String
        /// How long it took.
        public var duration: Duration
    }

    /// The phases, in order.
    public private(set) var phases: [Phase] = []

    /// Creates an empty record.
    public init() {}

    /// The sum of all phases.
    public var total: Duration { phases.reduce(.zero) { $0 + $1.duration } }

    /// Runs `body` and records its duration under `name` (also when it throws).
    public mutating func measure<R, E: Error>(_ name: String, _ body: () throws(E) -> R) throws(E) -> R {
        let clock = ContinuousClock()
        let start = clock.now
        defer { phases.append(Phase(name: name, duration: start.duration(to: clock.now))) }
        return try body()
    }

    /// Records a phase measured elsewhere (BlockMount's own timings).
    mutating func record(_ name: String, _ duration: Duration) {
        phases.append(Phase(name: name, duration: duration))
    }

    /// Appends the phases of another record.
    public mutating func append(_ other: PhaseTimings) { phases += other.phases }

    /// `map=95.1ms probe=0.4ms …`
    public var description: String {
        phases.map { "\($0.name)=\(Self.milliseconds($0.duration))" }.joined(separator: " ")
    }

    /// A duration as milliseconds with one decimal (`12.3ms`).
    public static func milliseconds(_ d: Duration) -> String {
        let tenths = (d.milliseconds * 10).rounded() / 10
        return "\(tenths)ms"
    }
}
