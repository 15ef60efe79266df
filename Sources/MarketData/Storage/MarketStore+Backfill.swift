import Foundation

/// The scheduler's observability rows (SPEC §10): `backfill_runs`, `backfill_symbol_status`, `rate_limit_events`.
extension MarketStore {
    /// A `backfill_runs` row.
    public struct RunRow: Sendable, Codable, Equatable {
        public var id: Int64
        /// When the run started; for a `queued` run, when it was requested.
        public var startedAt: String
        public var finishedAt: String?
        /// `queued` (a trigger reserved it), `running`, then `ok`, `partial`, `failed`, `interrupted` (a shutdown
        /// cut it short or came before it started) or `paused` (the provider had refused us; nothing was sent).
        public var status: String
        public var symbolsTotal: Int
        public var symbolsOk: Int
        public var symbolsFailed: Int
        public var requests: Int
        public var barsWritten: Int
        public var rateLimitHits: Int
    }

    /// Run statuses that no longer change.
    public static let finishedRunStatuses: Set<String> = ["ok", "partial", "failed", "interrupted", "paused"]

    /// How one symbol went in one run (`backfill_run_symbols`).
    public struct RunSymbolRow: Sendable, Codable, Equatable {
        public var symbol: String
        /// `done`, `unknown_symbol`, `provider_refused` or `failed`.
        public var state: String
        public var requests: Int
        public var barsWritten: Int
        public var rateLimitHits: Int
        public var error: String?
        /// The symbol's newest stored bar when the run finished.
        public var newestBar: String?

        public init(
            symbol: String,
            state: String,
            requests: Int = 0,
            barsWritten: Int = 0,
            rateLimitHits: Int = 0,
            error: String? = nil,
            newestBar: String? = nil
        ) {
            self.symbol = symbol
            self.state = state
            self.requests = requests
            self.barsWritten = barsWritten
            self.rateLimitHits = rateLimitHits
            self.error = error
            self.newestBar = newestBar
        }
    }

    public struct SymbolStatusRow: Sendable, Codable, Equatable {
        public var symbol: String
        public var newestBar: String?
        public var openGaps: Int
        public var attempts: Int
        public var nextRetryAt: String?
        public var lastError: String?
        public var updatedAt: String
    }

    public struct RateLimitRow: Sendable, Codable, Equatable {
        public var at: String
        public var provider: String
        public var httpStatus: Int?
        public var retryAfter: Double?
        public var remaining: Int?
        public var reset: Double?
        public var endpoint: String?
    }

    static func timestamp(_ d: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    /// A timestamp of the observability tables back as a date.
    public static func date(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }

    /// A new run, `running` now or `queued` (a trigger's reservation, started later by ``beginRun(_:)``).
    public func startRun(symbols: Int, queued: Bool = false) async throws -> Int64 {
        try await storage.startRun(symbols: symbols, startedAt: Self.timestamp(), status: queued ? "queued" : "running")
    }

    /// A queued run starts now.
    public func beginRun(_ id: Int64) async throws {
        try await storage.beginRun(id, startedAt: Self.timestamp())
    }

    public func finishRun(
        _ id: Int64,
        status: String,
        ok: Int = 0,
        failed: Int = 0,
        requests: Int = 0,
        barsWritten: Int = 0,
        rateLimitHits: Int = 0,
        symbols: [RunSymbolRow] = []
    ) async throws {
        try await storage.finishRun(
            id,
            finishedAt: Self.timestamp(),
            status: status,
            counts: RunCounts(
                ok: ok,
                failed: failed,
                requests: requests,
                barsWritten: barsWritten,
                rateLimitHits: rateLimitHits
            ),
            symbols: symbols
        )
    }

    public func run(_ id: Int64) async throws -> RunRow? { try await storage.run(id) }

    public func runSymbols(_ id: Int64) async throws -> [RunSymbolRow] { try await storage.runSymbols(id) }

    /// Upserts a chunk's bars and the symbol's status in one transaction, so a crash loses at most this chunk.
    @discardableResult
    public func storeChunk(symbol: String, bars: [Bar], openGaps: Int, attempts: Int) async throws -> Int {
        let status = SymbolStatusWrite(
            symbol: symbol,
            openGaps: openGaps,
            attempts: attempts,
            nextRetryAt: nil,
            lastError: nil,
            updatedAt: Self.timestamp()
        )
        _ = try await storage.upsert(bars, symbol: symbol, status: status)
        return bars.count
    }

    public func recordSymbolStatus(
        symbol: String,
        openGaps: Int,
        attempts: Int,
        error: String?,
        nextRetryAt: Date? = nil
    )
        async throws
    {
        try await storage.recordSymbolStatus(
            SymbolStatusWrite(
                symbol: symbol,
                openGaps: openGaps,
                attempts: attempts,
                nextRetryAt: nextRetryAt.map { Self.timestamp($0) },
                lastError: error,
                updatedAt: Self.timestamp()
            )
        )
    }

    public func recordRateLimit(_ e: RateLimitEvent) async throws {
        try await storage.recordRateLimit(
            RateLimitRow(
                at: Self.timestamp(e.at),
                provider: e.provider,
                httpStatus: e.status,
                retryAfter: e.retryAfter,
                remaining: e.remaining,
                reset: e.reset,
                endpoint: e.endpoint
            )
        )
    }

    /// Stored trading dates of `symbol` from `from` on.
    public func storedDates(_ symbol: String, from: String) async throws -> Set<String> {
        try await storage.storedDates(symbol, from: from)
    }

    /// Bars stored per symbol with `from <= ts <= to`.
    public func barCounts(from: String, to: String) async throws -> [String: Int] {
        try await storage.barCounts(from: from, to: to)
    }

    public func runs(limit: Int = 50) async throws -> [RunRow] { try await storage.runs(limit: limit) }

    public func symbolStatuses() async throws -> [SymbolStatusRow] { try await storage.symbolStatuses() }

    public func rateLimitEvents(limit: Int = 100) async throws -> [RateLimitRow] {
        try await storage.rateLimitEvents(limit: limit)
    }
}

/// Every provider attempt (`backfill_attempts`) and its summary over a time window.
extension MarketStore {
    public struct AttemptRow: Sendable, Codable, Equatable {
        public var at: String
        public var symbol: String
        public var endpoint: String
        public var attempt: Int
        public var httpStatus: Int?
        public var error: String?
        public var outcome: String
        public var waitSeconds: Double?
        public var retryAfter: Double?
        public var limiterWaitSeconds: Double
        public var durationSeconds: Double
    }

    /// What the attempts since a moment add up to (`scheduler-health`'s `lastHour`).
    public struct AttemptSummary: Sendable, Codable, Equatable {
        public var attempts = 0
        /// Attempts followed by another one after a backoff wait.
        public var retries = 0
        /// Answers with status 429.
        public var rateLimited = 0
        public var timeouts = 0
        /// Attempts that did not bring a page (retried or not).
        public var failed = 0
        /// Retryable failures with no attempt left.
        public var gaveUp = 0
        /// Backoff waits chosen, summed.
        public var backoffWaitSeconds = 0.0
        /// Waits on the learned rate limit before sending, summed.
        public var limiterWaitSeconds = 0.0
        /// The longest `Retry-After` seen.
        public var maxRetryAfterSeconds: Double?
    }

    /// How long attempts are kept: a week, pruned at the start of each run.
    public static let attemptRetention: TimeInterval = 7 * 86_400

    /// Records one attempt; a retryable failure also sets the symbol's `next_retry_at` to the end of its wait.
    public func recordAttempt(_ a: ProviderAttempt) async throws {
        let row = AttemptRow(
            at: Self.timestamp(a.at),
            symbol: a.symbol,
            endpoint: a.endpoint,
            attempt: a.attempt,
            httpStatus: a.status,
            error: a.error,
            outcome: a.outcome.rawValue,
            waitSeconds: a.waitSeconds,
            retryAfter: a.retryAfterSeconds,
            limiterWaitSeconds: a.limiterWaitSeconds,
            durationSeconds: a.durationSeconds
        )
        var retry: RetryNote?
        if a.outcome == .retry, let wait = a.waitSeconds {
            let cause = a.error ?? a.status.map { "HTTP \($0)" } ?? "unknown"
            retry = RetryNote(
                nextRetryAt: Self.timestamp(a.at.addingTimeInterval(wait)),
                lastError: "attempt \(a.attempt) failed (\(cause)); retrying",
                updatedAt: Self.timestamp()
            )
        }
        try await storage.recordAttempt(row, retry: retry)
    }

    /// Deletes attempts older than `date`.
    public func pruneAttempts(before date: Date) async throws {
        try await storage.pruneAttempts(before: Self.timestamp(date))
    }

    /// The attempts since `date`, summed.
    public func attemptSummary(since date: Date) async throws -> AttemptSummary {
        try await storage.attemptSummary(since: Self.timestamp(date))
    }

    /// The newest attempts, of one symbol or of all.
    public func attempts(symbol: String? = nil, limit: Int = 100) async throws -> [AttemptRow] {
        try await storage.attempts(symbol: symbol, limit: limit)
    }
}
