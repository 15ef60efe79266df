import NIOConcurrencyHelpers
import PreflightCore
import Synchronization

/// Flags shared by the runner, the shards and the signal handler. Reads are single atomic loads, cheap enough
/// for every iteration; code that has nothing to do until a flag is set waits for it (`wait(for:until:)`) instead of
/// polling.
public final class RunControl: Sendable {
    /// What can be waited for. Each implies the ones before it: a second signal interrupts, an interrupt stops.
    public enum Event: Int, Sendable, Comparable {
        /// No new iterations start (SIGINT, an aborting threshold, the end of a run).
        case stopping
        /// SIGINT or SIGTERM arrived.
        case interrupted
        /// A second SIGINT or SIGTERM: requests in flight are abandoned at once.
        case hurried

        public static func < (a: Event, b: Event) -> Bool { a.rawValue < b.rawValue }
    }

    private let stopping = Atomic<Bool>(false)
    private let interruptedFlag = Atomic<Bool>(false)
    private let abortedFlag = Atomic<Bool>(false)
    private let exhaustedFlag = Atomic<Bool>(false)
    private let hurriedFlag = Atomic<Bool>(false)

    private struct Waiters {
        var next = 0
        var waiting: [Int: (event: Event, continuation: CheckedContinuation<Void, Never>)] = [:]
    }
    /// A lock TSan can see (`Synchronization.Mutex` on Linux is a futex it does not model: every access it
    /// guards was reported as a race).
    private let waiters = NIOLockedValueBox(Waiters())

    public init() {}

    /// No new iterations start once this is set.
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
    /// SIGINT or SIGTERM arrived.
    public var isInterrupted: Bool { interruptedFlag.load(ordering: .relaxed) }
    /// A threshold with `abortOnFail` failed.
    public var isAborted: Bool { abortedFlag.load(ordering: .relaxed) }
    /// A `unique` data feed ran out.
    public var isDataExhausted: Bool { exhaustedFlag.load(ordering: .relaxed) }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
        wake(.stopping)
    }

    /// A second SIGINT or SIGTERM: requests in flight are abandoned at once, without waiting for `gracefulStop`,
    /// and the partial report is written.
    public var isHurried: Bool { hurriedFlag.load(ordering: .relaxed) }

    public func hurry() {
        hurriedFlag.store(true, ordering: .relaxed)
        interrupt()
        wake(.hurried)
    }

    public func interrupt() {
        interruptedFlag.store(true, ordering: .relaxed)
        stop()
        wake(.interrupted)
    }

    func abort() {
        abortedFlag.store(true, ordering: .relaxed)
        stop()
    }

    func dataExhausted() {
        exhaustedFlag.store(true, ordering: .relaxed)
    }

    /// Whether `event` has happened.
    public func has(_ event: Event) -> Bool {
        switch event {
        case .stopping: isStopping
        case .interrupted: isInterrupted
        case .hurried: isHurried
        }
    }

    /// Waits until `event` happens (returns at once when it already has), `deadline` passes, or the task is
    /// cancelled; returns whether the event happened.
    @discardableResult
    public func wait(for event: Event, until deadline: ContinuousClock.Instant? = nil) async -> Bool {
        if has(event) { return true }
        guard let deadline else {
            await waitIndefinitely(for: event)
            return has(event)
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitIndefinitely(for: event)
                return self.has(event)
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || has(event)
        }
    }

    /// Suspends until `event` has happened or the task is cancelled.
    private func waitIndefinitely(for event: Event) async {
        let id = waiters.withLockedValue { w in
            w.next += 1
            return w.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // The flag is read under the lock that `wake` takes after setting it, so no wake-up is missed.
                let resumeNow = waiters.withLockedValue { w -> Bool in
                    if has(event) || Task.isCancelled { return true }
                    w.waiting[id] = (event, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            waiters.withLockedValue { $0.waiting.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Whether at least `n` tasks are waiting (tests).
    func hasWaiters(_ n: Int) -> Bool { waiters.withLockedValue { $0.waiting.count >= n } }

    /// Resumes everyone waiting for `event` (its flag is already set).
    private func wake(_ event: Event) {
        let woken = waiters.withLockedValue { w in
            let ids = w.waiting.filter { $0.value.event <= event }.map(\.key)
            return ids.compactMap { w.waiting.removeValue(forKey: $0)?.continuation }
        }
        for continuation in woken { continuation.resume() }
    }
}
