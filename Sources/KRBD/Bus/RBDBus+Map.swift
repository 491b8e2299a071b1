// map: validate everything, load the module, then under the image's lock: look for an existing
// mapping, put the key in the kernel keyring, write the request once, find the new id by
// diffing devices/, confirm its identity, make sure /dev/rbd<id> is the right node. Any failure
// after the kernel accepted the request removes the mapping again (force); the one exception is a
// mapping that cannot be told apart from others (the error says so and points at `krbd list`).
import LinuxSystem
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Musl)
    @preconcurrency import Musl
#endif

/// What `map` does when the image is already mapped on this host.
public enum MapPolicy: String, Sendable, Hashable, Codable {
    /// Return the existing device when it is exactly what this map would make (the default:
    /// map is idempotent): the same cephx user and key (proved by the keyring entry's
    /// fingerprint, `key=client.<user>.<fingerprint>`, or the `secret=` in `config_info`), the
    /// same device-level mode (read-only or not) and the same options but `mount_timeout`
    /// (`exclusive` and `noshare` included). One made with these credentials but otherwise is
    /// refused with `.alreadyMapped` naming the device and the difference; one made with other
    /// (or unprovable) credentials is never handed out: the image is mapped anew and the kernel
    /// checks this caller's key.
    case reuse
    /// Throw `.alreadyMapped`.
    case fail
    /// Map it once more (a second device for the same image).
    case mapAgain
}

/// The device `map` returns, and whether this call created it.
public struct MapResult: Sendable, Hashable {
    /// The mapped device, every attribute read back from sysfs.
    public var device: MappedDevice
    /// `false` when an existing mapping was reused.
    public var newlyMapped: Bool
}

extension RBDBus {
    /// Maps `spec` (or returns its existing mapping), with exactly one write per attempt to
    /// `<sysfs>/bus/rbd/add_single_major` (`add` where single_major is off).
    ///
    /// Validates spec, monitors, credentials and options (against the running kernel's version)
    /// before anything is written; loads the module (`modprobe rbd single_major=Y`) when the bus
    /// is missing; then, under the image's lock (see ``RBDBus/lockDirectory``), applies `policy` to existing mappings of the
    /// image in the same cluster (see ``MapPolicy/reuse``), puts the secret in the process keyring
    /// as `client.<user>.<fingerprint>` (`add_key`), writes, unlinks the key, finds the new id by diffing `devices/`, confirms
    /// its identity (pool, namespace, image, snapshot, and fsid when ``MapOptions/clusterFSID``
    /// is set), and creates `<dev>/rbd<id>` (mknod, 0600) when it is missing. Any failure after
    /// the kernel accepted the request removes the mapping (`<id> force`) before throwing.
    ///
    /// The write blocks in the kernel for at most ``MapOptions/mountTimeout`` (plus
    /// ``MapOptions/lockTimeout`` for exclusive-lock images, when set).
    ///
    /// - Parameters:
    ///   - spec: the image or snapshot.
    ///   - monitors: the monitors (1…31).
    ///   - credentials: the cephx user and secret.
    ///   - options: map options.
    ///   - policy: what to do when the image is already mapped.
    /// - Throws: `RBDError`: `.invalidOption`, `.invalidMonitor`, `.invalidCredentials` before
    ///   any write; `.moduleUnavailable`; `.alreadyMapped` (policy `.fail`); `.keyringUnavailable`
    ///   (add_key blocked); the kernel's answer (`.notFound`, `.unsupportedFeatures`, `.lockHeld`,
    ///   `.authenticationFailed`, `.timedOut`, `.permissionDenied`, …); `.identityMismatch` and
    ///   `.deviceNodeMissing` after a rollback; `.timedOut` when the image's lock is not free in time.
    @discardableResult
    public func map(
        _ spec: ImageSpec, monitors: [MonitorAddress], credentials: CephCredentials,
        options: MapOptions = MapOptions(), policy: MapPolicy = .reuse
    ) throws(RBDError) -> MapResult {
        let attempts = try checkedRequests(spec, monitors: monitors, credentials: credentials, options: options)
        try ensureModule()
        let identity = Identity(spec, clusterFSID: options.clusterFSID?.lowercased())
        return try locked(spec, "map \(spec)") { () throws(RBDError) -> MapResult in
            let directory = try openDeviceRoot()
            defer { if let directory { _ = system_close(directory) } }
            let listed = try deviceIDs()
            // The image, any cluster; an identity that cannot be read stops the map (unknown is
            // neither "not the image", which would map it twice, nor "the image").
            var mapping: [Int] = []
            for id in listed where try checkedMatches(id, identity, directory: directory) { mapping.append(id) }
            let monitorTokens = mapping.isEmpty ? [] : Set(attempts.flatMap(\.monitorTokens))
            let existing = mapping.filter { sameCluster($0, monitorTokens) }
            if !existing.isEmpty {
                switch policy {
                case .reuse:
                    // The one rule set for adopting a mapping (RBDBus+Adoption.swift).
                    var conflicts: [String] = []
                    for id in existing {
                        switch adoption(of: id, for: attempts[0], spec: spec, options: options) {
                        case .reusable:
                            if let device = try readDevice(id) { return MapResult(device: device, newlyMapped: false) }
                            // Removed since (a concurrent unmap): map anew. Still there but
                            // unreadable is unknown, never a reason to map the image twice.
                            if try checkedMatches(id, identity, directory: directory) {
                                throw RBDError(
                                    .systemError,
                                    "\(deviceNode(id)) maps \(spec) but cannot be read back; nothing was done (check dmesg)"
                                )
                            }
                        case .unreadable(let cause):
                            throw RBDError(
                                .systemError,
                                "cannot read config_info of \(deviceNode(id)), which maps \(spec): whether it can be reused is "
                                    + "unknown; nothing was done (check dmesg)", cause: cause)
                        case .conflict(let why):
                            conflicts.append("\(deviceNode(id)) (\(why))")
                        case .otherCredentials:
                            continue  // a new map below: the kernel checks this caller's key
                        }
                    }
                    if !conflicts.isEmpty {
                        throw RBDError(
                            .alreadyMapped,
                            "\(spec) is already mapped at \(conflicts.joined(separator: ", ")), which is not what this "
                                + "map asks for; unmap it first (or map again with policy mapAgain)")
                    }
                case .fail:
                    throw RBDError(.alreadyMapped, "\(spec) is already mapped at \(deviceNode(existing[0]))")
                case .mapAgain:
                    break
                }
            }
            var key: Int32?
            if attempts.first?.usesKeyring == true, let secret = credentials.secret {
                // No silent fallback to secret= (it would stay in config_info for the mapping's
                // life): a kernel without keyrings gets `.keyringUnavailable` naming the opt-in.
                key = try addKey(user: credentials.user, secret: secret)
            }
            // The kernel cloned the key during the write; the keyring entry is not needed after it.
            // It lives in this thread's keyring: maps on other threads, at the same time, each
            // have their own (a process keyring one thread creates is not seen by the others).
            defer { if let key { _ = system_keyctl_unlink(key, system_keySpecThreadKeyring) } }
            var index = 0
            while true {
                do throws(RBDError) {
                    // When nothing mapped the image, the first write goes right after the listing
                    // above (only add_key runs between them). Otherwise, and for a later attempt,
                    // list again: a mapping of the image removed meanwhile (the reuse check found
                    // it gone, or another tool unmapped it) frees an id the kernel may hand to ours,
                    // and mapOnce does not take a device on an id that mapped the image for ours.
                    var before = listed
                    var mapped = mapping
                    if index > 0 || !mapping.isEmpty {
                        before = try deviceIDs()
                        mapped = []
                        for id in before where try checkedMatches(id, identity, directory: directory) {
                            mapped.append(id)
                        }
                    }
                    let device = try mapOnce(
                        spec, attempts[index], identity, options, credentials, before: before, mapped: mapped,
                        directory: directory)
                    return MapResult(device: device, newlyMapped: true)
                } catch let error where index + 1 < attempts.count && Self.triesNextMonitor(error) {
                    index += 1
                }
            }
        }
    }

    /// ``map(_:monitors:credentials:options:policy:)`` bounded by `timeout`: mount_timeout is
    /// lowered to fit (whole seconds, at least 1) and the image's lock is waited for at most
    /// `timeout`. The kernel bounds the write by mount_timeout; the blocking write runs on a
    /// Dispatch thread, not on the cooperative pool.
    /// `lockTimeout` (exclusive-lock acquisition) is left as given: see ``MapOptions``.
    ///
    /// - Throws: as the synchronous `map`, and `.interrupted` when the task is already cancelled.
    @discardableResult
    public func map(
        _ spec: ImageSpec, monitors: [MonitorAddress], credentials: CephCredentials,
        options: MapOptions = MapOptions(), policy: MapPolicy = .reuse, timeout: Duration
    ) async throws(RBDError) -> MapResult {
        if Task.isCancelled { throw RBDError(.interrupted, "map \(spec): the task was cancelled") }
        var options = options
        var seconds = Int(timeout.components.seconds) + (timeout.components.attoseconds > 0 ? 1 : 0)
        if options.monitorStrategy == .oneAtATime { seconds /= max(1, monitors.count) }
        seconds = max(1, seconds)
        if let current = options.mountTimeout, current != 0 {
            options.mountTimeout = min(current, seconds)
        } else {
            options.mountTimeout = seconds
        }
        var bus = self
        bus.lockTimeout = min(lockTimeout, timeout)
        let settings = options
        let bounded = bus
        // The add write blocks in the kernel: keep it off the cooperative pool.
        return try await runBlocking { () throws(RBDError) -> MapResult in
            try bounded.map(spec, monitors: monitors, credentials: credentials, options: settings, policy: policy)
        }
    }

    /// Checks what ``map(_:monitors:credentials:options:policy:)`` checks before it writes
    /// anything — spec, monitors, credentials, options against the running kernel, the request's
    /// length — and writes nothing: for callers that must refuse a bad request before any other
    /// step (attach checks its whole volume before it maps).
    ///
    /// - Throws: `RBDError` `.invalidOption`, `.invalidMonitor`, `.invalidCredentials`.
    public func validate(
        _ spec: ImageSpec, monitors: [MonitorAddress], credentials: CephCredentials, options: MapOptions = MapOptions()
    ) throws(RBDError) {
        _ = try checkedRequests(spec, monitors: monitors, credentials: credentials, options: options)
    }

    // MARK: Internals

    /// The options checked and every request built (and so checked) before touching the kernel.
    private func checkedRequests(
        _ spec: ImageSpec, monitors: [MonitorAddress], credentials: CephCredentials, options: MapOptions
    ) throws(RBDError) -> [MapRequest] {
        try options.validate(for: kernel)
        return try requests(
            spec, monitors, credentials, options, secretInRequest: credentials.transport == .secretInRequest)
    }

    /// One request per attempt: the whole list, or one monitor each from a random start.
    private func requests(
        _ spec: ImageSpec, _ monitors: [MonitorAddress], _ credentials: CephCredentials, _ options: MapOptions,
        secretInRequest: Bool
    ) throws(RBDError) -> [MapRequest] {
        var lists = [monitors]
        if options.monitorStrategy == .oneAtATime, monitors.count > 1 {
            let start = Int.random(in: 0..<monitors.count)
            lists = (0..<monitors.count).map { [monitors[(start + $0) % monitors.count]] }
        }
        var out: [MapRequest] = []
        for list in lists {
            out.append(
                try MapRequest(
                    spec: spec, monitors: list, credentials: credentials, options: options, kernel: kernel,
                    secretInRequest: secretInRequest))
        }
        return out
    }

    /// Whether the one-at-a-time strategy should try the next monitor after `error`.
    static func triesNextMonitor(_ error: RBDError) -> Bool {
        guard let errno = error.errno, error.syscall == "write" else { return false }
        return [.timedOut, .connectionRefused, .noRouteToHost, .networkUnreachable].contains(errno)
    }

    /// `add_key("ceph", "client.<user>.<fingerprint>", raw secret, thread keyring)`; returns the key serial.
    private func addKey(user: String, secret: CephSecret) throws(RBDError) -> Int32 {
        let added = valueOrErrno(retryOnInterrupt: false) {
            secret.bytes.withUnsafeBytes {
                system_add_key(
                    "ceph", MapRequest.keyDescription(user: user, secret: secret), $0, system_keySpecThreadKeyring)
            }
        }
        let cause: SyscallError
        switch added {
        case .success(let serial): return serial
        case .failure(let errno): cause = SyscallError("add_key", path: FilePath("client.\(user)"), errno: errno)
        }
        switch cause.errno {
        case .noFunction, .operationNotSupportedByDevice:
            throw RBDError(
                .keyringUnavailable,
                "the kernel has no keyring for ceph keys (add_key for client.\(user)); opt in to sending the secret in the request (transport .secretInRequest, --secret-in-request), which leaves it readable by root in config_info",
                cause: cause)
        case .notPermitted, .permissionDenied:
            throw RBDError(
                .keyringUnavailable,
                "add_key for client.\(user) was denied (a container's seccomp or AppArmor profile blocks the kernel keyring); allow add_key/keyctl, or opt in to sending the secret in the request (transport .secretInRequest, --secret-in-request), which leaves it readable by root in config_info",
                cause: cause)
        case .invalidArgument:
            throw RBDError(
                .invalidCredentials, "the kernel rejected the key of client.\(user) (not a valid cephx secret)",
                cause: cause)
        default:
            throw RBDError(
                .keyringUnavailable, "cannot put the key of client.\(user) in the kernel keyring", cause: cause)
        }
    }

    /// One write and everything after it. Called under the image's lock, with `before` the ids
    /// listed just before (and `mapped` those of them that mapped the image then).
    ///
    /// The new device is normally the one id that was not there before. A device removed
    /// between the listing and the write by a tool that does not take our lock frees an id the
    /// kernel hands out again (lowest first): when no new id holds the image, the listed ids that
    /// did not map the image are read too, and one of them is ours only if it now maps the image
    /// with exactly our request in config_info. An id that mapped the image before cannot be told
    /// apart from an earlier mapping made with the same request, so it is never taken for ours
    /// (the map then fails naming the situation; the caller lists again right before the write
    /// whenever the image was mapped, which keeps that window to the listing and the write).
    private func mapOnce(
        _ spec: ImageSpec, _ request: MapRequest, _ identity: Identity, _ options: MapOptions,
        _ credentials: CephCredentials, before listed: [Int], mapped: [Int], directory: CInt?
    ) throws(RBDError) -> MappedDevice {
        let before = Set(listed)
        do {
            try writeControl("add", Array(request.text.utf8))
        } catch {
            if error.syscall != "write" { throw controlOpenError(error, "map \(spec)") }
            throw RBDError.addFailed(
                error,
                .init(
                    spec: spec, options: options,
                    monitors: request.text.prefix { $0 != " " }.description, usedKeyring: request.usesKeyring,
                    user: credentials.user, supportedFeatures: supportedFeatures(),
                    hasSysAdmin: ProcessIdentity.hasSysAdmin(proc: proc)))
        }
        // The kernel accepted the request: from here on a failure must not leak the mapping.
        var after: [Int] = []
        for attempt in 0..<3 {
            do {
                after = try deviceIDs()
                break
            } catch {
                // A listing that fails now (EIO) may pass in a moment; a mapping that cannot be
                // found cannot be removed, so try again before giving up.
                if attempt < 2 {
                    system_usleep(UInt32(20_000 << attempt))
                    continue
                }
                var failure = RBDError(
                    error.code,
                    "\(spec) was mapped but the new device cannot be found: \(error.message); check `krbd list`",
                    path: error.path, cause: error.cause)
                failure.mayHaveLeftMapping = true
                throw failure
            }
        }
        let fresh = after.filter { !before.contains($0) }
        // In a storm every other mapper's new device is fresh too. Their names tell almost all of
        // them apart, one attribute each; a device with this image's name is read in full and its
        // identity checked on what was read. One that also shows exactly this request in
        // config_info is ours and ends the scan: the image's lock keeps out every other krbd map
        // of the image that shares this lock directory, so only another tool sending the very
        // same request could have made such a device, and that twin would be the same mapping for
        // every purpose. With `secret=` in the request the shown text is redacted: the raw one
        // must match too (another tool's map with another secret shows the same redacted text).
        let shown = request.description  // config_info as readDevice shows it (a secret redacted)
        var matching: [MappedDevice] = []
        for id in fresh where attribute(id, "name", equals: identity.image, directory: directory) == true {
            guard let device = (try? readDevice(id)) ?? nil, identity.matches(device) else { continue }
            if device.configInfo == shown && (request.usesKeyring || rawConfigInfo(id) == request.text) {
                matching = [device]
                break
            }
            matching.append(device)
        }
        if matching.isEmpty {
            // An id freed and handed out again between the listing and the write (see above).
            // The cheap attribute comparison first: only a device that maps the image is read.
            let mapped = Set(mapped)
            matching = after.filter { before.contains($0) && !mapped.contains($0) && matches($0, identity) }
                .compactMap { id in (try? readDevice(id)) ?? nil }
                .filter { identity.matches($0) && rawConfigInfo($0.id) == request.text }
        }
        let chosen: MappedDevice
        if matching.count == 1 {
            chosen = matching[0]
        } else if matching.count > 1 {
            // Another mapper (not holding our lock) mapped the same image at the same time: the
            // kernel keeps the request in config_info (root only), which tells ours apart.
            chosen = matching.first { rawConfigInfo($0.id) == request.text } ?? matching[0]
        } else {
            let ours =
                fresh.first { rawConfigInfo($0) == request.text }
                ?? (fresh.count == 1 && rawConfigInfo(fresh[0]) == nil ? fresh[0] : nil)
            guard let ours else {
                var failure = RBDError(
                    .identityMismatch,
                    "the kernel accepted the map of \(spec), but none of the \(fresh.count) new device(s) in \(devicesDirectory) is it; nothing was removed, check `krbd list`"
                )
                failure.mayHaveLeftMapping = true
                throw failure
            }
            let reported = [attribute(ours, "pool"), attribute(ours, "name")].map { $0 ?? "?" }.joined(separator: "/")
            throw rollback(
                ours,
                RBDError(
                    .identityMismatch,
                    "the kernel mapped \(spec) as rbd\(ours) but that device reports \(reported) (snap \(attribute(ours, "current_snap") ?? "?"), fsid \(attribute(ours, "cluster_fsid") ?? "?"))"
                ))
        }
        do throws(RBDError) {
            if checksDeviceNode { try ensureNode(chosen) }
            return chosen
        } catch {
            throw rollback(chosen.id, error)
        }
    }

    /// Removes `id` (force) after a failure and says so in the error.
    private func rollback(_ id: Int, _ error: RBDError) -> RBDError {
        var error = error
        do {
            try writeControl("remove", Array("\(id) force".utf8))
            error.message += "; the mapping rbd\(id) was removed again"
        } catch let failure {
            error.message +=
                "; removing rbd\(id) failed too (\(failure)): it is still mapped, unmap it with `krbd unmap --force \(id)`"
            error.mayHaveLeftMapping = true
        }
        return error
    }

    /// config_info exactly as the kernel shows it (root only); never leaves this file.
    private func rawConfigInfo(_ id: Int) -> String? { attribute(id, "config_info") }

    /// `<dev>/rbd<id>` exists (mknod 0600 if not) and is block device major:minor.
    func ensureNode(_ device: MappedDevice) throws(RBDError) {
        let node = deviceNode(device.id)
        let expected = device.device.rdev
        var status: stat?
        do {
            status = try Files.status(node)
            if status == nil {
                // No devtmpfs here (a container's private /dev): make the node ourselves.
                let made = valueOrErrno(retryOnInterrupt: false) {
                    system_mknodat(AT_FDCWD, node.string, S_IFBLK | 0o600, expected)
                }
                if case .failure(let errno) = made {
                    let cause = SyscallError("mknod", path: node, errno: errno)
                    if cause.errno != .fileExists {
                        throw RBDError(
                            .deviceNodeMissing, "\(node) for \(device.spec) is missing and cannot be created",
                            path: node, cause: cause)
                    }
                }
                status = try Files.status(node)
            }
        } catch let error as SyscallError {
            throw RBDError(.deviceNodeMissing, "cannot check \(node) for \(device.spec)", path: node, cause: error)
        } catch let error as RBDError {
            throw error
        } catch {
            throw RBDError(.deviceNodeMissing, "cannot check \(node): \(error)", path: node)
        }
        guard let status else {
            throw RBDError(.deviceNodeMissing, "\(node) for \(device.spec) is missing", path: node)
        }
        guard status.st_mode & S_IFMT == S_IFBLK, status.st_rdev == expected else {
            let actual =
                status.st_mode & S_IFMT == S_IFBLK
                ? "block device \(DeviceNumber(rdev: status.st_rdev))" : "not a block device"
            throw RBDError(
                .deviceNodeMissing,
                "\(node) is \(actual), not rbd\(device.id) (\(device.device)); /dev is probably not the host's devtmpfs",
                path: node)
        }
    }

    /// One write of `bytes` to `<bus>/<verb>_single_major`, or to `<bus>/<verb>` when the
    /// single-major file does not exist (module loaded with single_major=N).
    func writeControl(_ verb: String, _ bytes: [UInt8]) throws(SyscallError) {
        do {
            try Files.writeControl(bus.appending("\(verb)_single_major"), bytes)
        } catch let error where error.syscall == "open" && error.errno == .noSuchFileOrDirectory {
            try Files.writeControl(bus.appending(verb), bytes)
        }
    }

    /// The error for a control file that could not be opened (not the kernel's answer).
    func controlOpenError(_ cause: SyscallError, _ what: String) -> RBDError {
        switch cause.errno {
        case .noSuchFileOrDirectory:
            return RBDError(
                .moduleUnavailable, "\(what): \(bus) has no control files; is the rbd module loaded?",
                path: bus, cause: cause)
        case .permissionDenied, .notPermitted:
            return RBDError(
                .permissionDenied, "\(what): writing to \(bus) needs root (CAP_SYS_ADMIN)", path: bus, cause: cause)
        default:
            return RBDError(.systemError, "\(what): cannot open the rbd bus control file", path: bus, cause: cause)
        }
    }

    /// `<bus>/supported_features` (4.11+), if readable.
    func supportedFeatures() -> RBDFeatures? {
        (try? Files.readAttribute(bus.appending("supported_features"))).flatMap { RBDFeatures(sysfs: $0) }
    }
}
