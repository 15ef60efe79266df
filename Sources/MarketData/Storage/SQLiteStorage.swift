import Foundation
import GRDB
import NIOConcurrencyHelpers

/// The embedded engine: SQLite through GRDB, a `DatabasePool` in WAL mode, versioned migrations.
///
/// Every query runs on GRDB's own queues, never on a NIO event loop. SQL is always parameterised. The newest bar
/// per symbol is kept in memory, in step with every write made through this process, so the feature cache can be
/// keyed by it without a query per request; another process writing the same file is seen after a restart.
public final class SQLiteStorage: MarketStorage {
    public let path: String
    let pool: DatabasePool
    private let newest = NIOLockedValueBox<[String: String]>([:])

    /// Opens (creating if needed) the database at `path` and applies the migrations.
    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        var config = Configuration()
        // Several processes (the API, a drill's restart, a backfill) may share the file.
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        let rows = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT symbol, MAX(ts) AS newest FROM bars GROUP BY symbol")
        }
        newest.withLockedValue { map in
            for row in rows { map[row["symbol"]] = row["newest"] }
        }
    }

    public var location: String { "sqlite \(path)" }

    /// Versioned migrations; applying them twice changes nothing. `PostgresStorage.migrations` mirrors them.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE symbols (
                        symbol TEXT PRIMARY KEY NOT NULL,
                        added_at TEXT NOT NULL
                    );
                    CREATE TABLE bars (
                        symbol TEXT NOT NULL,
                        ts TEXT NOT NULL,
                        open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
                        volume REAL NOT NULL,
                        PRIMARY KEY (symbol, ts)
                    ) WITHOUT ROWID;
                    CREATE TABLE backfill_runs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        started_at TEXT NOT NULL,
                        finished_at TEXT,
                        status TEXT NOT NULL,
                        symbols_total INTEGER NOT NULL DEFAULT 0,
                        symbols_ok INTEGER NOT NULL DEFAULT 0,
                        symbols_failed INTEGER NOT NULL DEFAULT 0,
                        requests INTEGER NOT NULL DEFAULT 0,
                        bars_written INTEGER NOT NULL DEFAULT 0,
                        rate_limit_hits INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE backfill_symbol_status (
                        symbol TEXT PRIMARY KEY NOT NULL,
                        newest_bar TEXT,
                        open_gaps INTEGER NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_retry_at TEXT,
                        last_error TEXT,
                        updated_at TEXT NOT NULL
                    );
                    CREATE TABLE rate_limit_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at TEXT NOT NULL,
                        provider TEXT NOT NULL,
                        http_status INTEGER,
                        retry_after REAL,
                        remaining INTEGER,
                        reset REAL,
                        endpoint TEXT
                    );
                    CREATE TABLE drill_canary (
                        seq INTEGER PRIMARY KEY NOT NULL,
                        written_at TEXT NOT NULL,
                        received_at TEXT NOT NULL
                    );
                    """
            )
        }
        // Every provider attempt with what came back and the wait chosen (SPEC §10: every retry and wait is
        // recorded); kept for `MarketStore.attemptRetention`.
        m.registerMigration("v2-attempts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE backfill_attempts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at TEXT NOT NULL,
                        symbol TEXT NOT NULL,
                        endpoint TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        http_status INTEGER,
                        error TEXT,
                        outcome TEXT NOT NULL,
                        wait_seconds REAL,
                        retry_after REAL,
                        limiter_wait_seconds REAL NOT NULL DEFAULT 0,
                        duration_seconds REAL NOT NULL DEFAULT 0
                    );
                    CREATE INDEX backfill_attempts_at ON backfill_attempts (at);
                    CREATE INDEX backfill_attempts_symbol ON backfill_attempts (symbol, id);
                    """
            )
        }
        // How each symbol went in each run, so a run's answer (`GET backfill/runs/{id}`) names what it wrote.
        m.registerMigration("v3-run-symbols") { db in
            try db.execute(
                sql: """
                    CREATE TABLE backfill_run_symbols (
                        run_id INTEGER NOT NULL,
                        symbol TEXT NOT NULL,
                        state TEXT NOT NULL,
                        requests INTEGER NOT NULL DEFAULT 0,
                        bars_written INTEGER NOT NULL DEFAULT 0,
                        rate_limit_hits INTEGER NOT NULL DEFAULT 0,
                        error TEXT,
                        newest_bar TEXT,
                        PRIMARY KEY (run_id, symbol)
                    ) WITHOUT ROWID;
                    """
            )
        }
        return m
    }

    public func isReady() async -> Bool {
        do {
            return try await pool.read { db in
                try Self.migrator.hasCompletedMigrations(db) && (try Int.fetchOne(db, sql: "SELECT 1") == 1)
            }
        } catch {
            return false
        }
    }

    // MARK: Symbols and bars

    public func addSymbols(_ symbols: [String], addedAt: String) async throws {
        try await pool.write { db in
            for s in symbols {
                try db.execute(
                    sql: "INSERT INTO symbols (symbol, added_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    arguments: [s, addedAt]
                )
            }
        }
    }

    public func symbols() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT symbol FROM symbols ORDER BY symbol") }
    }

    public func hasSymbol(_ symbol: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM symbols WHERE symbol = ?)", arguments: [symbol])
                ?? false
        }
    }

    public func upsert(_ bars: [Bar], symbol: String, status: SymbolStatusWrite?) async throws -> String? {
        let newestWritten = try await pool.write { db -> String? in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO bars (symbol, ts, open, high, low, close, volume) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (symbol, ts) DO UPDATE SET open = excluded.open, high = excluded.high,
                        low = excluded.low, close = excluded.close, volume = excluded.volume
                    """
            )
            for b in bars {
                try statement.execute(arguments: [symbol, b.date, b.open, b.high, b.low, b.close, b.volume])
            }
            let newest = try String.fetchOne(db, sql: "SELECT MAX(ts) FROM bars WHERE symbol = ?", arguments: [symbol])
            if let status { try Self.upsertStatus(db, status, newest: newest) }
            return newest
        }
        newest.withLockedValue { $0[symbol] = newestWritten }
        return newestWritten
    }

    public func newestBar(_ symbol: String) async throws -> String? { newest.withLockedValue { $0[symbol] } }

    public func recentBars(_ symbol: String, limit: Int) async throws -> [Bar] {
        try await pool.read { db in
            try Self.bars(
                db,
                sql: "SELECT * FROM (SELECT * FROM bars WHERE symbol = ? ORDER BY ts DESC LIMIT ?) ORDER BY ts",
                arguments: [symbol, limit]
            )
        }
    }

    public func bars(_ symbol: String, from: String, to: String) async throws -> [Bar] {
        try await pool.read { db in
            try Self.bars(
                db,
                sql: "SELECT * FROM bars WHERE symbol = ? AND ts >= ? AND ts <= ? ORDER BY ts",
                arguments: [symbol, from, to]
            )
        }
    }

    static func bars(_ db: Database, sql: String, arguments: StatementArguments) throws -> [Bar] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map {
            Bar(
                date: $0["ts"],
                open: $0["open"],
                high: $0["high"],
                low: $0["low"],
                close: $0["close"],
                volume: $0["volume"]
            )
        }
    }

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

    public func barCounts(from: String, to: String) async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT symbol, COUNT(*) AS n FROM bars WHERE ts >= ? AND ts <= ? GROUP BY symbol",
                arguments: [from, to]
            ) {
                counts[row["symbol"]] = row["n"]
            }
            return counts
        }
    }

    // MARK: Drill canary

    /// `synchronous = FULL` for this commit: WAL with NORMAL may lose the last commits on power loss, and the canary
    /// promises an acknowledged write survives.
    public func writeCanary(seq: Int, writtenAt: String, receivedAt: String) async throws -> Bool {
        try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
            var inserted = false
            try db.inTransaction {
                try db.execute(
                    sql:
                        "INSERT INTO drill_canary (seq, written_at, received_at) VALUES (?, ?, ?) ON CONFLICT (seq) DO NOTHING",
                    arguments: [seq, writtenAt, receivedAt]
                )
                inserted = db.changesCount > 0
                return .commit
            }
            return inserted
        }
    }

    public func canary(from seq: Int) async throws -> [MarketStore.CanaryRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM drill_canary WHERE seq >= ? ORDER BY seq", arguments: [seq]).map {
                MarketStore.CanaryRecord(seq: $0["seq"], writtenAt: $0["written_at"], receivedAt: $0["received_at"])
            }
        }
    }

    // MARK: Backfill runs and symbol status

    public func startRun(symbols: Int, startedAt: String, status: String) async throws -> Int64 {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO backfill_runs (started_at, status, symbols_total) VALUES (?, ?, ?)",
                arguments: [startedAt, status, symbols]
            )
            return db.lastInsertedRowID
        }
    }

    public func beginRun(_ id: Int64, startedAt: String) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE backfill_runs SET started_at = ?, status = 'running' WHERE id = ?",
                arguments: [startedAt, id]
            )
        }
    }

    public func finishRun(
        _ id: Int64,
        finishedAt: String,
        status: String,
        counts c: RunCounts,
        symbols: [MarketStore.RunSymbolRow]
    ) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE backfill_runs SET finished_at = ?, status = ?, symbols_ok = ?, symbols_failed = ?, requests = ?,
                        bars_written = ?, rate_limit_hits = ? WHERE id = ?
                    """,
                arguments: [finishedAt, status, c.ok, c.failed, c.requests, c.barsWritten, c.rateLimitHits, id]
            )
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO backfill_run_symbols
                        (run_id, symbol, state, requests, bars_written, rate_limit_hits, error, newest_bar)
                    VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT MAX(ts) FROM bars WHERE symbol = ?))
                    """
            )
            for r in symbols {
                try insert.execute(arguments: [
                    id, r.symbol, r.state, r.requests, r.barsWritten, r.rateLimitHits, r.error, r.symbol,
                ])
            }
        }
    }

    public func runs(limit: Int) async throws -> [MarketStore.RunRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM backfill_runs ORDER BY id DESC LIMIT ?", arguments: [limit])
                .map(Self.runRow)
        }
    }

    public func run(_ id: Int64) async throws -> MarketStore.RunRow? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM backfill_runs WHERE id = ?", arguments: [id]).map(Self.runRow)
        }
    }

    static func runRow(_ row: Row) -> MarketStore.RunRow {
        MarketStore.RunRow(
            id: row["id"],
            startedAt: row["started_at"],
            finishedAt: row["finished_at"],
            status: row["status"],
            symbolsTotal: row["symbols_total"],
            symbolsOk: row["symbols_ok"],
            symbolsFailed: row["symbols_failed"],
            requests: row["requests"],
            barsWritten: row["bars_written"],
            rateLimitHits: row["rate_limit_hits"]
        )
    }

    public func runSymbols(_ id: Int64) async throws -> [MarketStore.RunSymbolRow] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM backfill_run_symbols WHERE run_id = ? ORDER BY symbol",
                arguments: [id]
            ).map {
                MarketStore.RunSymbolRow(
                    symbol: $0["symbol"],
                    state: $0["state"],
                    requests: $0["requests"],
                    barsWritten: $0["bars_written"],
                    rateLimitHits: $0["rate_limit_hits"],
                    error: $0["error"],
                    newestBar: $0["newest_bar"]
                )
            }
        }
    }
    public func recordSymbolStatus(_ status: SymbolStatusWrite) async throws {
        try await pool.write { db in
            let newest = try String.fetchOne(
                db,
                sql: "SELECT MAX(ts) FROM bars WHERE symbol = ?",
                arguments: [status.symbol]
            )
            try Self.upsertStatus(db, status, newest: newest)
        }
    }

    static func upsertStatus(_ db: Database, _ s: SymbolStatusWrite, newest: String?) throws {
        try db.execute(
            sql: """
                INSERT INTO backfill_symbol_status (symbol, newest_bar, open_gaps, attempts, next_retry_at, last_error, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (symbol) DO UPDATE SET newest_bar = excluded.newest_bar, open_gaps = excluded.open_gaps,
                    attempts = excluded.attempts, next_retry_at = excluded.next_retry_at, last_error = excluded.last_error,
                    updated_at = excluded.updated_at
                """,
            arguments: [s.symbol, newest, s.openGaps, s.attempts, s.nextRetryAt, s.lastError, s.updatedAt]
        )
    }

    public func symbolStatuses() async throws -> [MarketStore.SymbolStatusRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM backfill_symbol_status ORDER BY symbol").map {
                MarketStore.SymbolStatusRow(
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

    // MARK: Rate limits and attempts

    public func recordRateLimit(_ e: MarketStore.RateLimitRow) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rate_limit_events (at, provider, http_status, retry_after, remaining, reset, endpoint)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [e.at, e.provider, e.httpStatus, e.retryAfter, e.remaining, e.reset, e.endpoint]
            )
        }
    }

    public func rateLimitEvents(limit: Int) async throws -> [MarketStore.RateLimitRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rate_limit_events ORDER BY id DESC LIMIT ?", arguments: [limit])
                .map {
                    MarketStore.RateLimitRow(
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

    public func recordAttempt(_ a: MarketStore.AttemptRow, retry: RetryNote?) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO backfill_attempts (at, symbol, endpoint, attempt, http_status, error, outcome,
                        wait_seconds, retry_after, limiter_wait_seconds, duration_seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    a.at, a.symbol, a.endpoint, a.attempt, a.httpStatus, a.error, a.outcome, a.waitSeconds,
                    a.retryAfter, a.limiterWaitSeconds, a.durationSeconds,
                ]
            )
            if let retry {
                try db.execute(
                    sql: """
                        INSERT INTO backfill_symbol_status (symbol, attempts, next_retry_at, last_error, updated_at)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (symbol) DO UPDATE SET next_retry_at = excluded.next_retry_at,
                            last_error = excluded.last_error, updated_at = excluded.updated_at
                        """,
                    arguments: [a.symbol, a.attempt, retry.nextRetryAt, retry.lastError, retry.updatedAt]
                )
            }
        }
    }

    public func pruneAttempts(before: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM backfill_attempts WHERE at < ?", arguments: [before])
        }
    }

    public func attemptSummary(since: String) async throws -> MarketStore.AttemptSummary {
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
                    arguments: [since]
                )
            else { return MarketStore.AttemptSummary() }
            return MarketStore.AttemptSummary(
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

    public func attempts(symbol: String?, limit: Int) async throws -> [MarketStore.AttemptRow] {
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
                MarketStore.AttemptRow(
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
