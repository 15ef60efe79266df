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
