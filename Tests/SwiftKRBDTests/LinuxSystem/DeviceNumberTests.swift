// DeviceNumber: the one model of `major:minor` (mountinfo, sysfs, st_rdev, the journal).
import Testing

@testable import LinuxSystem

@Suite struct DeviceNumberTests {
    @Test func parsesAndPrintsTheKernelsText() {
        let device = DeviceNumber(major: 254, minor: 16)
        #expect(device.description == "254:16")
        #expect(DeviceNumber(parsing: "254:16") == device)
        #expect(DeviceNumber(parsing: "0:0") == DeviceNumber(major: 0, minor: 0))
        #expect(DeviceNumber(parsing: "4294967295:1048575") == DeviceNumber(major: .max, minor: 1_048_575))
        for bad in ["", "254", "254:", ":16", "254:16\n", " 254:16", "254:1:6", "-1:2", "4294967296:0", "a:b"] {
            #expect(DeviceNumber(parsing: bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func convertsToAndFromDevT() {
        let device = DeviceNumber(major: 259, minor: 1_048_575)
        #expect(DeviceNumber(rdev: device.rdev) == device, "majors and minors over 8 bits survive")
        // glibc's encoding: minor bits 0-7 and 20-31, major bits 8-19 (and 32-43).
        #expect(device.rdev == 0xFFF0_0000 | 259 << 8 | 0xFF)
    }

    @Test func ordersByMajorThenMinor() {
        let numbers = [
            DeviceNumber(major: 8, minor: 1), DeviceNumber(major: 7, minor: 3), DeviceNumber(major: 8, minor: 0),
        ]
        #expect(numbers.sorted().map(\.description) == ["7:3", "8:0", "8:1"])
    }
}
