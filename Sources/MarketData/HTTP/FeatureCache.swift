import NIOCore

/// Encoded feature responses in memory: a bounded LRU with a TTL, keyed by symbol and the symbol's newest bar, so
/// a backfill that writes new bars makes the next request a miss. Concurrent misses for one key compute once.
public actor FeatureCache {
    public struct Key: Hashable, Sendable {
        public var symbol: String
        public var newestBar: String
    }

    private struct Entry {
        var body: ByteBuffer
        var storedAt: ContinuousClock.Instant
        var lastUse: UInt64
    }

    public let capacity: Int
    public let ttl: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private var entries: [Key: Entry] = [:]
    private var waiting: [Key: [CheckedContinuation<ByteBuffer, any Error>]] = [:]
    private var tick: UInt64 = 0
    /// How many times `compute` actually ran.
    public private(set) var computations = 0

    /// `capacity` 0 disables caching (every request computes). `now` is injectable for tests.
    public init(
        capacity: Int,
        ttl: Duration,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.capacity = capacity
        self.ttl = ttl
        self.now = now
    }

    /// The cached body, or the one `compute` produces (shared with concurrent callers of the same key).
    public func value(
        for key: Key,
        compute: @Sendable () async throws -> ByteBuffer
    ) async throws -> (
        body: ByteBuffer, hit: Bool
    ) {
        tick += 1
        if var entry = entries[key] {
            if now() - entry.storedAt <= ttl {
                entry.lastUse = tick
                entries[key] = entry
                return (entry.body, true)
            }
            entries[key] = nil
        }
        if waiting[key] != nil {
            let body = try await withCheckedThrowingContinuation { waiting[key, default: []].append($0) }
            return (body, false)
        }
        waiting[key] = []
        computations += 1
        do {
            let body = try await compute()
            store(key, body)
            for w in waiting.removeValue(forKey: key) ?? [] { w.resume(returning: body) }
            return (body, false)
        } catch {
            for w in waiting.removeValue(forKey: key) ?? [] { w.resume(throwing: error) }
            throw error
        }
    }

    private func store(_ key: Key, _ body: ByteBuffer) {
        guard capacity > 0 else { return }
        // Older entries of the same symbol are stale once a newer bar exists.
        for old in entries.keys where old.symbol == key.symbol && old != key { entries[old] = nil }
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            entries[oldest] = nil
        }
        entries[key] = Entry(body: body, storedAt: now(), lastUse: tick)
    }

    public var count: Int { entries.count }
}
