// Blocking kernel calls (a sysfs add write that waits up to mount_timeout, flock polling) must
// not occupy a thread of Swift's cooperative pool (STYLE.md rule 10): they run on a Dispatch
// thread while the task awaits. The mocking driver of the task goes along, so that tests of
// async entry points see the same syscalls as the synchronous ones.
import Dispatch

/// Runs `body` on a Dispatch thread and resumes the calling task with its result.
package func runBlocking<R: Sendable, E: Error>(
    _ body: @escaping @Sendable () throws(E) -> R
) async throws(E) -> R {
    #if ENABLE_MOCKING
        let driver = MockingDriver.current
    #endif
    let result: Result<R, E> = await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            #if ENABLE_MOCKING
                let outcome = MockingDriver.$current.withValue(driver) {
                    Result<R, E> { () throws(E) -> R in try body() }
                }
            #else
                let outcome = Result<R, E> { () throws(E) -> R in try body() }
            #endif
            continuation.resume(returning: outcome)
        }
    }
    return try result.get()
}
