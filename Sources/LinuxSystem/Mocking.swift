// Debug-only syscall mocking, after swift-system's Mocking.swift: each `system_*` wrapper asks the
// driver of the current task (if any) first. A driver records a trace of every call (with the
// path, also for fd-based calls) and can fail chosen calls with a chosen errno, or answer them,
// so that every errno branch is testable without root and without a kernel. Release builds
// compile none of this.
#if ENABLE_MOCKING
    import Synchronization
    import SystemPackage

    /// One intercepted call.
    package struct MockCall: Sendable, CustomStringConvertible {
        /// The C name of the call, without the `system_` prefix.
        package var name: String
        /// The path the call works on; for fd-based calls the path the fd was opened with.
        package var path: String?
        /// Other arguments, rendered as text (buffers as their UTF-8 text where printable).
        package var arguments: [String]
        /// When the call was intercepted (before it ran): profiles read the gaps between calls.
        package var time: ContinuousClock.Instant = .now

        package var description: String {
            "\(name)(\(([path].compactMap { $0 } + arguments).joined(separator: ", ")))"
        }
    }

    /// What an intercepted call does.
    package enum MockOutcome: Sendable {
        /// Run the real call.
        case passthrough
        /// Return -1 with this errno, without running the call.
        case fail(Errno)
        /// Return this value without running the call.
        case succeed(Int)
    }

    /// Records and steers the syscalls made by the task that installed it.
    package final class MockingDriver: Sendable {
        private struct Rule: Sendable {
            var name: String
            var pathContains: String?
            var remaining: Int?
            var action: @Sendable (MockCall) -> MockOutcome
        }

        private struct State: Sendable {
            var trace: [MockCall] = []
            var fdPaths: [CInt: String] = [:]
            var rules: [Rule] = []
        }

        private let state = Mutex(State())

        /// The driver of the current task; `nil` outside tests.
        @TaskLocal package static var current: MockingDriver?

        package init() {}

        /// Runs `body` with a fresh driver installed for this task and its child tasks.
        package static func with<R>(_ body: (MockingDriver) throws -> R) rethrows -> R {
            let driver = MockingDriver()
            return try $current.withValue(driver) { try body(driver) }
        }

        /// Every call made so far, in order.
        package var trace: [MockCall] { state.withLock { $0.trace } }

        /// The calls named `name` (optionally only those whose path contains `pathContains`).
        package func calls(_ name: String, pathContains: String? = nil) -> [MockCall] {
            trace.filter { call in
                call.name == name && (pathContains.map { call.path?.contains($0) ?? false } ?? true)
            }
        }

        /// Steers calls named `name` whose path contains `pathContains` (all paths when nil), at
        /// most `times` times (always when nil). The newest matching rule wins.
        package func on(
            _ name: String, pathContains: String? = nil, times: Int? = nil,
            _ action: @escaping @Sendable (MockCall) -> MockOutcome
        ) {
            state.withLock {
                $0.rules.append(Rule(name: name, pathContains: pathContains, remaining: times, action: action))
            }
        }

        /// Fails calls named `name` (on a path containing `pathContains`) with `errno`.
        package func fail(_ name: String, pathContains: String? = nil, times: Int? = nil, with errno: Errno) {
            on(name, pathContains: pathContains, times: times) { _ in .fail(errno) }
        }

        /// Records the call and decides its outcome.
        package func intercept(_ name: String, path: String?, fd: CInt?, arguments: [String]) -> MockOutcome {
            let (call, action): (MockCall, (@Sendable (MockCall) -> MockOutcome)?) = state.withLock { s in
                let resolved = path ?? fd.flatMap { s.fdPaths[$0] }
                let call = MockCall(name: name, path: resolved, arguments: arguments)
                s.trace.append(call)
                for index in s.rules.indices.reversed() {
                    let rule = s.rules[index]
                    guard rule.name == name else { continue }
                    if let needle = rule.pathContains, !(resolved?.contains(needle) ?? false) { continue }
                    if let remaining = rule.remaining {
                        if remaining <= 0 { continue }
                        s.rules[index].remaining = remaining - 1
                    }
                    return (call, rule.action)
                }
                return (call, nil)
            }
            return action?(call) ?? .passthrough
        }

        /// Remembers which path an fd was opened with, so later calls on the fd name it.
        package func opened(_ fd: CInt, path: String) { state.withLock { $0.fdPaths[fd] = path } }

        /// Forgets a closed fd.
        package func closed(_ fd: CInt) { _ = state.withLock { $0.fdPaths.removeValue(forKey: fd) } }
    }
#endif
