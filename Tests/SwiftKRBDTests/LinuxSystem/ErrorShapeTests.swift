// One error shape in KRBD, BlockMount and RBDVolume: a camelCase code, a message, the path the
// operation was about, and a typed cause (the failed system call, or the layer below's error).
import SystemPackage
import Testing

@testable import BlockMount
@testable import KRBD
@testable import RBDVolume

@Suite struct ErrorShapeTests {
    func kind(_ cause: VolumeError.Cause) -> String {
        switch cause {
        case .rbd: "rbd"
        case .mount: "mount"
        case .system: "system"
        case .other: "other"
        }
    }

    @Test func aFileThatCannotBeReadIsThePathAndTheCallIsTheCause() throws {
        let dir = try TemporaryDirectory()
        let missing = dir("no.keyring")
        let error = #expect(throws: RBDError.self) { try CephCredentials.keyringFile(missing) }
        #expect(error?.code == .invalidCredentials && error?.path == missing, "\(String(describing: error))")
        #expect(error?.cause?.path == missing && error?.cause?.errno == .noSuchFileOrDirectory)
        // The accessors of the flat shape read the cause.
        #expect(error?.errno == error?.cause?.errno && error?.syscall == error?.cause?.syscall)
        #expect(error?.description == "\(error?.message ?? "") [\(error?.cause.map { "\($0)" } ?? "")]")
    }

    @Test func theCauseOfAVolumeErrorIsTheTypedErrorBelow() {
        let call = SystemCallError("write", path: "/sys/bus/rbd/add", errno: .readOnlyFileSystem)
        let rbd = RBDError(.lockHeld, "held", cause: call)
        guard case .rbd(let typed) = rbd.volumeCause else {
            Issue.record("an RBDError is not .rbd")
            return
        }
        #expect(typed == rbd)
        let attach = VolumeError(.device, "cannot attach", cause: .rbd(rbd))
        #expect(attach.errno == .readOnlyFileSystem && attach.syscall == "write" && attach.cause?.systemCall == call)
        #expect(attach.description == "cannot attach")
        var leftBehind = rbd
        leftBehind.mayHaveLeftMapping = true
        #expect(leftBehind.mayHaveLeftDevice && !rbd.mayHaveLeftDevice)
        // Another provider's failure: `.other` unless its type says otherwise, and no device left.
        struct Foreign: DeviceProviderFailure {}
        #expect(kind(Foreign().volumeCause) == "other" && Foreign().volumeCause.error is Foreign)
        #expect(!Foreign().mayHaveLeftDevice)
        // The package's other errors keep their typed cause when a provider fails with them.
        let mountFailure = MountError(.invalidOptions, "bad options", path: "/mnt")
        #expect(kind(mountFailure.volumeCause) == "mount" && !mountFailure.mayHaveLeftDevice)
        #expect(kind(call.volumeCause) == "system" && call.volumeCause.systemCall == call)
        // The lifecycle's own call is the cause, not part of the message; the description adds it.
        let mkdir = SystemCallError("mkdir", path: "/x", errno: .permissionDenied)
        let io = VolumeError(.io, "cannot create /x", cause: mkdir)
        #expect(io.message == "cannot create /x" && io.path == "/x" && io.errno == .permissionDenied)
        #expect(io.description == "cannot create /x: \(mkdir)")
    }

    @Test func everyCodeIsCamelCase() {
        let volume: [VolumeError.Code] = [
            .invalidPluginName, .duplicatePlugin, .pluginInitFailed, .noPlugin, .ambiguousPlugin, .invalidArgument,
            .notAttached, .inUse, .lockTimeout, .refusedFormat, .notFound, .cancelled, .journal, .device, .mount, .io,
        ]
        let names = volume.map(\.rawValue) + [RBDError.Code.notFound.rawValue, MountError.Code.busy.rawValue]
        #expect(names.allSatisfy { $0.first?.isLowercase == true && $0.allSatisfy { $0.isLetter } }, "\(names)")
        #expect(VolumeError.Code.invalidArgument.rawValue == "invalidArgument")
    }
}
