// In-process turns on a volume for the async entry points: a caller waits for the operation
// before it without holding a thread (the flock inside the synchronous operation still orders
// processes), until its deadline or its cancellation.

/// Hands out one turn per volume key at a time, in arrival order.
actor VolumeTurns {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private var busy: Set<String> = []
    private var waiters: [String: [Waiter]] = [:]
    private var nextID: UInt64 = 0

    /// Runs `body` in `key`'s turn, waiting for it until `deadline`.
    /// - Throws: `VolumeError` `.lockTimeout` (the deadline passed while waiting), `.cancelled`,
    ///   or what `body` throws.
    func run<R: Sendable>(
        _ key: String, deadline: ContinuousClock.Instant?, _ body: @Sendable () async throws(VolumeError) -> R
    ) async throws(VolumeError) -> R {
        try await acquire(key, deadline: deadline)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String, deadline: ContinuousClock.Instant?) async throws(VolumeError) {
        if !busy.contains(key) {
            busy.insert(key)
            return
        }
        nextID += 1
        let id = nextID
        let start = ContinuousClock.now
        let timer = deadline.map { deadline in
            Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.settle(
                    key, id,
                    VolumeError(
                        .lockTimeout,
                        "another operation on volume \(key) was still running when this call's deadline passed "
                            + "(waited \(ContinuousClock.now - start)); the caller may retry"))
            }
        }
        defer { timer?.cancel() }
        do {
            try await withTaskCancellationHandler {
                // Queued on this actor before the task suspends: the deadline's and the
                // cancellation's `settle` run on the actor too, so they always find it queued
                // (or already given its turn, and then do nothing).
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    waiters[key, default: []].append(Waiter(id: id, continuation: continuation))
                }
            } onCancel: {
                Task { [weak self] in
                    await self?.settle(
                        key, id,
                        VolumeError(
                            .cancelled,
                            "the call on volume \(key) was cancelled while it waited for its turn; nothing was done"))
                }
            }
        } catch let error as VolumeError {
            throw error
        } catch {
            throw VolumeError(.cancelled, "the call on volume \(key) ended while it waited: \(error)")
        }
    }

    /// Ends waiter `id` with `error` if it is still waiting; one given its turn is left alone.
    private func settle(_ key: String, _ id: UInt64, _ error: VolumeError) {
        guard var queue = waiters[key], let index = queue.firstIndex(where: { $0.id == id }) else { return }
        let waiter = queue.remove(at: index)
        waiters[key] = queue.isEmpty ? nil : queue
        waiter.continuation.resume(throwing: error)
    }

    private func release(_ key: String) {
        guard var queue = waiters[key], !queue.isEmpty else {
            busy.remove(key)
            return
        }
        let next = queue.removeFirst()
        waiters[key] = queue.isEmpty ? nil : queue
        next.continuation.resume()  // the turn passes on: `busy` keeps the key
    }
}
