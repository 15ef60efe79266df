import Foundation
import GRDB

/// The scheduler's observability rows (SPEC §10): `backfill_runs`, `backfill_symbol_status`, `rate_limit_events`.
extension MarketStore {
    public struct RunRow: Sendable, Codable, Equatable {
        public var id: Int64
        public var startedAt: String
        public var finishedAt: String?
        public var status: String
        public var symbolsTotal: Int
        public var symbolsOk: Int
        public var symbolsFailed: Int
        public var requests: Int
        public var barsWritten: Int
        public var rateLimitHits: Int
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

    public func startRun(symbols: Int) async throws -> Int64 {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO backfill_runs (started_at, status, symbols_total) VALUES (?, 'running', ?)",
                arguments: [Self.timestamp(), symbols]
            )
            return db.lastInsertedRowID
        }
    }

    public func finishRun(
        _ id: Int64,
        status: String,
        ok: Int,
        failed: Int,
        requests: Int,
        barsWritten: Int,
        rateLimitHits: Int
    ) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE backfill_runs SET finished_at = ?, status = ?, symbols_ok = ?, symbols_failed = ?, requests = ?,
                        bars_written = ?, rate_limit_hits = ? WHERE id = ?
                    """,
                arguments: [Self.timestamp(), status, ok, failed, requests, barsWritten, rateLimitHits, id]
            )
        }
    }

    /// Upserts a chunk's bars and the symbol's status in one transaction, so a crash loses at most this chunk.
    @discardableResult
    public func storeChunk(symbol: String, bars: [Bar], openGaps: Int, attempts: Int) async throws -> Int {
        let newestWritten = try await pool.write { db -> String? in
            try Self.writeBars(db, symbol: symbol, bars: bars)
            let newest = try String.fetchOne(db, sql: "SELECT MAX(ts) FROM bars WHERE symbol = ?", arguments: [symbol])
            try Self.upsertStatus(
                db,
                symbol: symbol,
                newest: newest,
                openGaps: openGaps,
                attempts: attempts,
                error: nil
            )
            return newest
        }
        noteNewest(symbol, newestWritten)
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
        try await pool.write { db in
            let newest = try String.fetchOne(db, sql: "SELECT MAX(ts) FROM bars WHERE symbol = ?", arguments: [symbol])
            try Self.upsertStatus(
                db,
                symbol: symbol,
                newest: newest,
                openGaps: openGaps,
                attempts: attempts,
                error: error,
                nextRetryAt: nextRetryAt
            )
        }
    }

    static func upsertStatus(
        _ db: Database,
        symbol: String,
        newest: String?,
        openGaps: Int,
        attempts: Int,
        error: String?,
        nextRetryAt: Date? = nil
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO backfill_symbol_status (symbol, newest_bar, open_gaps, attempts, next_retry_at, last_error, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (symbol) DO UPDATE SET newest_bar = excluded.newest_bar, open_gaps = excluded.open_gaps,
                    attempts = excluded.attempts, next_retry_at = excluded.next_retry_at, last_error = excluded.last_error,
                    updated_at = excluded.updated_at
                """,
            arguments: [symbol, newest, openGaps, attempts, nextRetryAt.map { timestamp($0) }, error, timestamp()]
        )
    }

    public func recordRateLimit(_ e: RateLimitEvent) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rate_limit_events (at, provider, http_status, retry_after, remaining, reset, endpoint)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [Self.timestamp(e.at), e.provider, e.status, e.retryAfter, e.remaining, e.reset, e.endpoint]
            )
        }
    }

    /// Stored trading dates of `symbol` from `from` on.
    public func storedDates(_ symbol: String, from: String) async throws -> Set<String> {
        try await pool.read { db in
            Set(
                try String.fetchAll(
                    db,
                    sql: "SELECT ts FROM bars WHERE symbol = ? AND ts >= ?",
                    arguments: [symbol, from]
                )
            )
        }
    }

    public func runs(limit: Int = 50) async throws -> [RunRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM backfill_runs ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                RunRow(
                    id: $0["id"],
                    startedAt: $0["started_at"],
                    finishedAt: $0["finished_at"],
                    status: $0["status"],
                    symbolsTotal: $0["symbols_total"],
                    symbolsOk: $0["symbols_ok"],
                    symbolsFailed: $0["symbols_failed"],
                    requests: $0["requests"],
                    barsWritten: $0["bars_written"],
                    rateLimitHits: $0["rate_limit_hits"]
                )
            }
        }
    }

    public func symbolStatuses() async throws -> [SymbolStatusRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM backfill_symbol_status ORDER BY symbol").map {
                SymbolStatusRow(
                    symbol: $0["symbol"],
                    newestBar: $0["newest_bar"],
                    openGaps: $0["open_gaps"],
                    attempts: $0["attempts"],
                    nextRetryAt: $0["next_retry_at"],
                    lastError: $0["last_error"],
                    updatedAt: $0["updated_at"]
                )
            }
        }
    }

    public func rateLimitEvents(limit: Int = 100) async throws -> [RateLimitRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rate_limit_events ORDER BY id DESC LIMIT ?", arguments: [limit])
                .map {
                    RateLimitRow(
                        at: $0["at"],
                        provider: $0["provider"],
                        httpStatus: $0["http_status"],
                        retryAfter: $0["retry_after"],
                        remaining: $0["remaining"],
                        reset: $0["reset"],
                        endpoint: $0["endpoint"]
                    )
                }
        }
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
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO backfill_attempts (at, symbol, endpoint, attempt, http_status, error, outcome,
                        wait_seconds, retry_after, limiter_wait_seconds, duration_seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Self.timestamp(a.at), a.symbol, a.endpoint, a.attempt, a.status, a.error, a.outcome.rawValue,
                    a.waitSeconds, a.retryAfterSeconds, a.limiterWaitSeconds, a.durationSeconds,
                ]
            )
            if a.outcome == .retry, let wait = a.waitSeconds {
                let cause = a.error ?? a.status.map { "HTTP \($0)" } ?? "unknown"
                try db.execute(
                    sql: """
                        INSERT INTO backfill_symbol_status (symbol, attempts, next_retry_at, last_error, updated_at)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (symbol) DO UPDATE SET next_retry_at = excluded.next_retry_at,
                            last_error = excluded.last_error, updated_at = excluded.updated_at
                        """,
                    arguments: [
                        a.symbol, a.attempt, Self.timestamp(a.at.addingTimeInterval(wait)),
                        "attempt \(a.attempt) failed (\(cause)); retrying", Self.timestamp(),
                    ]
                )
            }
        }
    }

    /// Deletes attempts older than `date`.
    public func pruneAttempts(before date: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM backfill_attempts WHERE at < ?", arguments: [Self.timestamp(date)])
        }
    }

    /// The attempts since `date`, summed.
    public func attemptSummary(since date: Date) async throws -> AttemptSummary {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) AS attempts,
                            COALESCE(SUM(outcome = 'retry'), 0) AS retries,
                            COALESCE(SUM(http_status = 429), 0) AS rate_limited,
                            COALESCE(SUM(error = 'timeout'), 0) AS timeouts,
                            COALESCE(SUM(outcome <> 'ok'), 0) AS failed,
                            COALESCE(SUM(outcome = 'gave_up'), 0) AS gave_up,
                            COALESCE(SUM(wait_seconds), 0) AS backoff_wait,
                            COALESCE(SUM(limiter_wait_seconds), 0) AS limiter_wait,
                            MAX(retry_after) AS max_retry_after
                        FROM backfill_attempts WHERE at >= ?
                        """,
                    arguments: [Self.timestamp(date)]
                )
            else { return AttemptSummary() }
            return AttemptSummary(
                attempts: row["attempts"],
                retries: row["retries"],
                rateLimited: row["rate_limited"],
                timeouts: row["timeouts"],
                failed: row["failed"],
                gaveUp: row["gave_up"],
                backoffWaitSeconds: row["backoff_wait"],
                limiterWaitSeconds: row["limiter_wait"],
                maxRetryAfterSeconds: row["max_retry_after"]
            )
        }
    }

    /// The newest attempts, of one symbol or of all.
    public func attempts(symbol: String? = nil, limit: Int = 100) async throws -> [AttemptRow] {
        try await pool.read { db in
            let rows =
                if let symbol {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM backfill_attempts WHERE symbol = ? ORDER BY id DESC LIMIT ?",
                        arguments: [symbol, limit]
                    )
                } else {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM backfill_attempts ORDER BY id DESC LIMIT ?",
                        arguments: [limit]
                    )
                }
            return rows.map {
                AttemptRow(
                    at: $0["at"],
                    symbol: $0["symbol"],
                    endpoint: $0["endpoint"],
                    attempt: $0["attempt"],
                    httpStatus: $0["http_status"],
                    error: $0["error"],
                    outcome: $0["outcome"],
                    waitSeconds: $0["wait_seconds"],
                    retryAfter: $0["retry_after"],
                    limiterWaitSeconds: $0["limiter_wait_seconds"],
                    durationSeconds: $0["duration_seconds"]
                )
            }
        }
    }
}
