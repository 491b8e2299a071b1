// What the plugin measures, through swift-metrics: RPC latency by method and code, the phases of the volume work
// (map, probe, mkfs, mount, bind, unmount, unmap, resize), and the volumes staged on this node. With
// --metrics-address the executable bootstraps swift-prometheus and serves them (MetricsServer); without it they go
// to swift-metrics' no-op backend. No label ever holds a volume id, a path or a secret: the label sets stay small.
import Metrics
import RBDVolume

/// The plugin's metrics.
package enum PluginMetrics {
    /// `krbd_csi_rpc_duration_seconds{method, code}`: every RPC, with its gRPC code (`OK`, `NOT_FOUND`, …).
    package static func rpc(method: String, code: String, duration: Duration) {
        Timer(label: "krbd_csi_rpc_duration_seconds", dimensions: [("method", method), ("code", code)])
            .recordNanoseconds(nanoseconds(duration))
    }

    /// `krbd_csi_phase_duration_seconds{operation, phase}`: each phase a library call measured.
    package static func phases(_ timings: PhaseTimings, operation: String) {
        for phase in timings.phases {
            Timer(
                label: "krbd_csi_phase_duration_seconds", dimensions: [("operation", operation), ("phase", phase.name)]
            )
            .recordNanoseconds(nanoseconds(phase.duration))
        }
    }

    /// `krbd_csi_staged_volumes`: journal records on this node (staged, or being staged or unstaged).
    package static func stagedVolumes(_ count: Int) {
        Gauge(label: "krbd_csi_staged_volumes").record(count)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
