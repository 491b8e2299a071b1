// N blocking calls at once, each on its own thread. Neither a TaskGroup (the cooperative pool has
// as many threads as CPUs: 2 here) nor DispatchQueue.concurrentPerform (its width is the CPU count
// too) runs 32 blocking kernel writes at the same time: plain pthreads do.
#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Where one thread's outcome goes: written by that thread only, read after pthread_join (which
/// orders the two), hence @unchecked.
private final class Slot<R>: @unchecked Sendable {
    var outcome: Result<R, any Error>?
    var end: ContinuousClock.Instant?
    /// CPU seconds the thread spent in its call (CLOCK_THREAD_CPUTIME_ID, user + system).
    var cpu: Double = 0
}

/// The calling thread's CPU time so far in seconds (CLOCK_THREAD_CPUTIME_ID: user + system).
private func threadCPUSeconds() -> Double {
    var time = timespec()
    let rc = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    precondition(rc == 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed")
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// What a thread runs after the barrier.
private final class ThreadStart: @unchecked Sendable {
    // @unchecked: both fields are set before pthread_create and only read afterwards.
    let gate: UnsafeMutablePointer<pthread_barrier_t>
    let work: () -> Void

    init(gate: UnsafeMutablePointer<pthread_barrier_t>, work: @escaping () -> Void) {
        self.gate = gate
        self.work = work
    }
}

/// Runs `body(0..<count)` on `count` threads released together (one barrier) and returns the
/// wall-clock seconds from the release to the end of the last one (the storm's makespan), when
/// the first one ended, each thread's result by index, and each thread's CPU time in its call by
/// index (seconds of CLOCK_THREAD_CPUTIME_ID, user + system, read right before and right after
/// `body`). Thread creation is not timed: every thread waits at the barrier before its call.
func onThreads<R>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> R) throws -> (
    seconds: Double, firstDone: Double, results: [Result<R, any Error>], cpu: [Double]
) {
    let gate = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    defer { gate.deallocate() }
    guard pthread_barrier_init(gate, nil, UInt32(count + 1)) == 0 else {
        throw BenchError("pthread_barrier_init failed")
    }
    defer { pthread_barrier_destroy(gate) }
    let slots = (0..<count).map { _ in Slot<R>() }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let slot = slots[index]
        let start = ThreadStart(gate: gate) {
            let cpuBefore = threadCPUSeconds()
            slot.outcome = Result { try body(index) }
            slot.cpu = threadCPUSeconds() - cpuBefore
            slot.end = .now
        }
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { context in
                let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
                pthread_barrier_wait(start.gate)
                start.work()
                return nil
            }, Unmanaged.passRetained(start).toOpaque())
        // The threads made so far wait at the barrier for a count that never comes: a bench
        // that cannot start its threads cannot go on, nor end them.
        if rc != 0 { fatalError("pthread_create failed (\(rc)) for thread \(index + 1) of \(count)") }
        threads.append(thread)
    }
    let clock = ContinuousClock()
    pthread_barrier_wait(gate)
    let start = clock.now
    for thread in threads { pthread_join(thread, nil) }
    let seconds = (clock.now - start).seconds
    let firstDone = slots.compactMap(\.end).min().map { ($0 - start).seconds } ?? seconds
    return (
        seconds, firstDone, slots.map { $0.outcome ?? .failure(BenchError("a thread ended without a result")) },
        slots.map(\.cpu)
    )
}

/// The values of `results`, or the first error (naming its thread) when any failed.
@discardableResult
func values<R>(_ results: [Result<R, any Error>], _ what: String) throws -> [R] {
    for (index, result) in results.enumerated() {
        if case .failure(let error) = result {
            throw BenchError("\(what), thread \(index + 1)/\(results.count): \(error)")
        }
    }
    return results.map { try! $0.get() }
}
