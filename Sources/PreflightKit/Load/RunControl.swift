import Synchronization

/// Flags shared by the runner, the shards and the signal handler. Reads are single atomic loads, cheap enough
/// for every iteration.
public final class RunControl: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let interruptedFlag = Atomic<Bool>(false)
    private let abortedFlag = Atomic<Bool>(false)
    private let exhaustedFlag = Atomic<Bool>(false)
    private let hurriedFlag = Atomic<Bool>(false)

    public init() {}

    /// No new iterations start once this is set.
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
    /// SIGINT or SIGTERM arrived.
    public var isInterrupted: Bool { interruptedFlag.load(ordering: .relaxed) }
    /// A threshold with `abortOnFail` failed.
    public var isAborted: Bool { abortedFlag.load(ordering: .relaxed) }
    /// A `unique` data feed ran out.
    public var isDataExhausted: Bool { exhaustedFlag.load(ordering: .relaxed) }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// A second SIGINT or SIGTERM: requests in flight are abandoned at once, without waiting for `gracefulStop`,
    /// and the partial report is written.
    public var isHurried: Bool { hurriedFlag.load(ordering: .relaxed) }

    public func hurry() {
        hurriedFlag.store(true, ordering: .relaxed)
        interrupt()
    }

    public func interrupt() {
        interruptedFlag.store(true, ordering: .relaxed)
        stop()
    }

    func abort() {
        abortedFlag.store(true, ordering: .relaxed)
        stop()
    }

    func dataExhausted() {
        exhaustedFlag.store(true, ordering: .relaxed)
    }
}
