/// `--segment I/N`: the I-th (from 0, as Kubernetes' `JOB_COMPLETION_INDEX`) of N slices of a run, for running one
/// scenario on N machines (SPEC §12).
///
/// A segment is a set of the engine's shards: with L event loops, segment I of N runs shards `I + N·l` of `N·L`.
/// Since shard k of n takes arrivals `k, k+n, k+2n, …` and VUs `k, k+n, …`, segment I takes exactly the arrivals,
/// VUs and iterations numbered `I (mod N)` of the whole run: the N slices add up to the whole with no rounding
/// loss (10 VUs over 3 segments are 4 + 3 + 3), data feeds indexed by iteration never hand a `unique` value to two
/// segments, and every random choice keyed by the global iteration or VU number replays exactly.
public struct ExecutionSegment: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// The whole run: segment 0 of 1.
    public static let whole = ExecutionSegment(uncheckedIndex: 0, count: 1)

    /// At most this many segments (the engine's shards grow with N × event loops).
    public static let maxCount = 1024

    private init(uncheckedIndex: Int, count: Int) {
        self.index = uncheckedIndex
        self.count = count
    }

    /// Nil unless `0 ≤ index < count ≤ maxCount`.
    public init?(index: Int, count: Int) {
        guard count >= 1, count <= Self.maxCount, index >= 0, index < count else { return nil }
        self.init(uncheckedIndex: index, count: count)
    }

    /// Parses `I/N`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    public var isWhole: Bool { count == 1 }

    /// The global shard index of this segment's event loop `loop` out of `loops`.
    public func shard(loop: Int, loops: Int) -> (index: Int, count: Int) { (index + count * loop, count * loops) }

    /// This segment's part of `total` (VUs, iterations): the near-equal split the shards make, summed.
    public func share(of total: Int, loops: Int = 1) -> Int {
        (0..<loops).reduce(0) { sum, loop in
            let (k, n) = shard(loop: loop, loops: loops)
            return sum + Self.part(of: total, shard: k, shards: n)
        }
    }

    /// Shard k's part of `total` among n: the k-th of n near-equal parts (the first `total % n` get one more).
    package static func part(of total: Int, shard k: Int, shards n: Int) -> Int { total / n + (k < total % n ? 1 : 0) }
}
