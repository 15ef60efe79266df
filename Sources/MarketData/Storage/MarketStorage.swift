import Foundation

/// The reference API's storage engine: one protocol, two implementations (SQLite through GRDB, the embedded
/// default; PostgreSQL through postgres-nio, for several `serve` instances behind a load balancer).
///
/// Implementations are plain SQL over the same tables (SPEC §10); what is shared — timestamps, the newest-bar
/// bookkeeping, retry scheduling — lives once in ``MarketStore``, which wraps an engine. Every write that returns
/// has committed durably enough that a process killed right after it keeps it (the drill's canary guarantee);
/// timestamps are ISO 8601 UTC text with milliseconds, so they compare as strings on both engines.
/// `StorageContractTests` runs one suite against both.
public protocol MarketStorage: Sendable {
    /// Which engine and where, without credentials (fit for a log line).
    var location: String { get }

    /// The engine answers and every migration is applied.
    func isReady() async -> Bool

    func addSymbols(_ symbols: [String], addedAt: String) async throws
    func symbols() async throws -> [String]
    func hasSymbol(_ symbol: String) async throws -> Bool

    /// Upserts bars on (symbol, ts) in one transaction; with `status`, the symbol's backfill status is written in
    /// the same transaction (so a crash loses at most this chunk). Returns the symbol's newest stored date.
    func upsert(_ bars: [Bar], symbol: String, status: SymbolStatusWrite?) async throws -> String?
    /// The date of the newest stored bar of `symbol`, as every writer sharing the store left it.
    func newestBar(_ symbol: String) async throws -> String?
    /// The most recent `limit` bars, oldest first.
    func recentBars(_ symbol: String, limit: Int) async throws -> [Bar]
    /// Bars with `from <= ts <= to`, oldest first.
    func bars(_ symbol: String, from: String, to: String) async throws -> [Bar]
    /// Stored trading dates of `symbol` from `from` on.
    func storedDates(_ symbol: String, from: String) async throws -> Set<String>
    /// Bars stored per symbol with `from <= ts <= to`, in one query (symbols without bars left out).
    func barCounts(from: String, to: String) async throws -> [String: Int]

    /// Stores a canary write durably before returning (a repeated `seq` keeps the first); whether it is new.
    func writeCanary(seq: Int, writtenAt: String, receivedAt: String) async throws -> Bool
    func canary(from seq: Int) async throws -> [MarketStore.CanaryRecord]

    /// A new run row in `status` (`running`, or `queued` when a trigger reserves it for the scheduler).
    func startRun(symbols: Int, startedAt: String, status: String) async throws -> Int64
    /// A queued run starts: `running` from `startedAt`.
    func beginRun(_ id: Int64, startedAt: String) async throws
    /// The run's status and totals, and one row per symbol (each with its newest stored bar, read by the engine in
    /// the same transaction; `newestBar` as passed is ignored).
    func finishRun(
        _ id: Int64,
        finishedAt: String,
        status: String,
        counts: RunCounts,
        symbols: [MarketStore.RunSymbolRow]
    ) async throws
    func runs(limit: Int) async throws -> [MarketStore.RunRow]
    func run(_ id: Int64) async throws -> MarketStore.RunRow?
    /// The symbols of a finished run, by symbol.
    func runSymbols(_ id: Int64) async throws -> [MarketStore.RunSymbolRow]

    /// Writes the symbol's status with its newest stored bar read in the same transaction.
    func recordSymbolStatus(_ status: SymbolStatusWrite) async throws
    func symbolStatuses() async throws -> [MarketStore.SymbolStatusRow]

    func recordRateLimit(_ row: MarketStore.RateLimitRow) async throws
    func rateLimitEvents(limit: Int) async throws -> [MarketStore.RateLimitRow]

    /// Records an attempt; with `retry`, sets the symbol's `next_retry_at` and `last_error` in the same transaction
    /// (creating its status row with `attempts = row.attempt` when there is none).
    func recordAttempt(_ row: MarketStore.AttemptRow, retry: RetryNote?) async throws
    func pruneAttempts(before: String) async throws
    func attemptSummary(since: String) async throws -> MarketStore.AttemptSummary
    func attempts(symbol: String?, limit: Int) async throws -> [MarketStore.AttemptRow]
}

/// A symbol's backfill status as written (its newest bar is read by the engine inside the write).
public struct SymbolStatusWrite: Sendable, Equatable {
    public var symbol: String
    public var openGaps: Int
    public var attempts: Int
    public var nextRetryAt: String?
    public var lastError: String?
    public var updatedAt: String
}

/// A run's totals when it finishes.
public struct RunCounts: Sendable, Equatable {
    public var ok: Int
    public var failed: Int
    public var requests: Int
    public var barsWritten: Int
    public var rateLimitHits: Int
}

/// When a failed attempt will be retried and why, for the symbol's status row.
public struct RetryNote: Sendable, Equatable {
    public var nextRetryAt: String
    public var lastError: String
    public var updatedAt: String
}
