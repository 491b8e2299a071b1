// How many rbd devices one host can have, for NodeGetInfo's max_volumes_per_node.
import Foundation

/// The kernel's limit on mapped rbd devices.
///
/// drivers/block/rbd.c allocates device ids with `ida_alloc_max(&rbd_dev_id_ida,
/// minor_to_rbd_dev_id(1 << MINORBITS) - 1, …)`: with single_major every device takes 16 minors
/// (`RBD_SINGLE_MAJOR_PART_SHIFT` 4) of the one major's 2^20 (`MINORBITS` 20, include/linux/kdev_t.h), so ids run
/// 0…65535. Without single_major each device needs a dynamically allocated block major of its own, and how many
/// of those are free depends on the host, so no honest number can be given.
package enum RBDDeviceLimit {
    /// 2^20 minors / 16 per device.
    package static let singleMajor: Int64 = 1 << (20 - 4)

    /// `max_volumes_per_node` for a value of `/sys/module/rbd/parameters/single_major`.
    ///
    /// - Parameter singleMajor: the parameter's text (`Y` or `N`), or `nil` when the module is not loaded
    ///   (KRBD loads it with single_major=Y) or predates the parameter.
    /// - Returns: 65536, or 0 ("the CO decides", per the spec) when the module was loaded with single_major=N.
    package static func maxVolumes(singleMajor: String?) -> Int64 {
        singleMajor?.trimmingCharacters(in: .whitespacesAndNewlines) == "N" ? 0 : Self.singleMajor
    }

    /// `max_volumes_per_node` for this host, from `<sysfs>/module/rbd/parameters/single_major`.
    package static func maxVolumes(sysfs: String) -> Int64 {
        maxVolumes(
            singleMajor: try? String(contentsOfFile: "\(sysfs)/module/rbd/parameters/single_major", encoding: .utf8))
    }
}
