// Stable exit codes, one per error code. Never renumber or reuse; add new codes at the end of a band.
//
//   0  success                      30 rbd.notFound
//   1  any other error              31 rbd.unsupportedFeatures
//  10  rbd.invalidSpec              32 rbd.lockHeld
//  11  rbd.invalidOption            33 rbd.authenticationFailed
//  12  rbd.invalidMonitor           34 (was blocklistDenied, never produced: not reused)
//  13  rbd.invalidCredentials       35 rbd.clientBlocklisted
//  14  rbd.invalidConfiguration     36 rbd.timedOut
//  20  rbd.moduleUnavailable        37 rbd.interrupted
//  21  rbd.permissionDenied         40 rbd.busy
//  22  rbd.keyringUnavailable       41 rbd.alreadyMapped
//  64  usage error (argument parser) 42 rbd.identityMismatch
//                                   43 rbd.deviceNodeMissing
//  50-59 volume lifecycle (invalidArgument, notAttached, inUse, lockTimeout, journal, noPlugin,
//        pluginInitFailed, io, refusedFormat, notFound); 70-80 mount layer (partitioned, unknownData,
//        readOnlyBlank, formatFailed, mountFailed, busy, bindVerificationFailed, corruptedMount,
//        probeFailed, ownershipFailed, resizeFailed). A lifecycle error caused by a map keeps the map's code.
//  `--help` names each code with its layer (rbd., volume., mount.): `busy` and `notFound` are in two.
import ArgumentParser
import BlockMount
import KRBD
import RBDVolume

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

enum ExitCodes {
    static let codes: [(RBDError.Code, Int32)] = [
        (.invalidSpec, 10), (.invalidOption, 11), (.invalidMonitor, 12), (.invalidCredentials, 13),
        (.invalidConfiguration, 14), (.moduleUnavailable, 20), (.permissionDenied, 21), (.keyringUnavailable, 22),
        (.notFound, 30), (.unsupportedFeatures, 31), (.lockHeld, 32), (.authenticationFailed, 33),
        (.clientBlocklisted, 35), (.timedOut, 36), (.interrupted, 37),
        (.busy, 40), (.alreadyMapped, 41), (.identityMismatch, 42), (.deviceNodeMissing, 43),
    ]

    /// The exit code for an error code (1 for codes without their own).
    static func code(for code: RBDError.Code) -> Int32 {
        codes.first { $0.0 == code }?.1 ?? 1
    }

    /// The table for `--help`: each code once, named with its layer (`rbd.busy`, `mount.busy`).
    static var table: String {
        let rows =
            [["0", "success"], ["1", "other errors"], ["64", "usage errors"]]
            + codes.map { [String($0.1), "rbd.\($0.0)", "(map, unmap)"] }
            + volumeCodes.map { [String($0.1), "volume.\($0.0)", "(volume lifecycle)"] }
            + mountCodes.map { [String($0.1), "mount.\($0.0)", "(probe, format, mount)"] }
        return textTable(rows, rightAligned: [0]).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
    }

    /// Volume lifecycle errors (50-59); a map or mount failure inside keeps its own code.
    static let volumeCodes: [(VolumeError.Code, Int32)] = [
        (.invalidArgument, 50), (.notAttached, 51), (.inUse, 52), (.lockTimeout, 53), (.journal, 54),
        (.noPlugin, 55), (.pluginInitFailed, 56), (.io, 57), (.refusedFormat, 58), (.notFound, 59),
    ]

    /// Mount layer errors (70-80; 64 is the argument parser's usage error).
    static let mountCodes: [(MountError.Code, Int32)] = [
        (.partitioned, 70), (.unknownData, 71), (.readOnlyBlank, 72), (.formatFailed, 73), (.mountFailed, 74),
        (.busy, 75), (.bindVerificationFailed, 76), (.corruptedMount, 77), (.probeFailed, 78), (.ownershipFailed, 79),
        (.resizeFailed, 80),
    ]

    static func report(_ error: VolumeError) -> ExitCode {
        printError("krbd: \(error)")
        switch error.cause {
        case .rbd(let rbd):
            return ExitCode(code(for: rbd.code))
        case .mount(let mount):
            if let code = mountCodes.first(where: { $0.0 == mount.code })?.1 { return ExitCode(code) }
        case .system, .other, nil:
            break
        }
        return ExitCode(volumeCodes.first { $0.0 == error.code }?.1 ?? 1)
    }

    static func report(_ error: MountError) -> ExitCode {
        printError("krbd: \(error.message)")
        return ExitCode(mountCodes.first { $0.0 == error.code }?.1 ?? 1)
    }

    /// Prints `krbd: <message>` on stderr and returns the exit code to throw.
    static func report(_ error: RBDError) -> ExitCode {
        var line = "krbd: \(error.message)"
        if let errno = error.errno { line += " (\(error.syscall ?? "call"): \(errno))" }
        printError(line)
        return ExitCode(code(for: error.code))
    }
}

/// One line on stderr.
func printError(_ line: String) {
    let text = line.replacingNewlines + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { fputs($0.baseAddress!, stderr) }
}

/// Runs `body`, turning an `RBDError` into the one-line report and its exit code.
func reportingErrors<R>(_ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as RBDError {
        throw ExitCodes.report(error)
    } catch let error as VolumeError {
        throw ExitCodes.report(error)
    } catch let error as MountError {
        throw ExitCodes.report(error)
    }
}

extension String {
    var replacingNewlines: String { String(map { $0.isNewline ? " " : $0 }) }
}
