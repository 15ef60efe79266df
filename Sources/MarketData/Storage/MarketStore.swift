import Foundation
import GRDB
import NIOConcurrencyHelpers

/// The reference API's storage: SQLite through GRDB, a `DatabasePool` in WAL mode, versioned migrations.
///
/// Every query runs on GRDB's own queues, never on a NIO event loop. SQL is always parameterised.
public final class MarketStore: Sendable {
    public let path: String
    let pool: DatabasePool
    /// The newest stored bar per symbol, kept in step with every write made through this store, so the feature
    /// cache can be keyed by it without a query per request.
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

    /// Versioned migrations; applying them twice changes nothing.
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
        // recorded); kept for `attemptRetention`.
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
        return m
    }

    /// The database answers and every migration is applied (`/readyz`).
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

    public func addSymbols(_ symbols: [String]) async throws {
        let now = ISO8601DateFormatter().string(from: Date())
        try await pool.write { db in
            for s in symbols {
                try db.execute(
                    sql: "INSERT INTO symbols (symbol, added_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    arguments: [s, now]
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

    /// Inserts or updates bars on (symbol, ts), in one transaction; returns the rows written.
    @discardableResult
    public func upsert(_ bars: [Bar], symbol: String) async throws -> Int {
        guard !bars.isEmpty else { return 0 }
        let newestWritten = try await pool.write { db -> String? in
            try Self.writeBars(db, symbol: symbol, bars: bars)
            return try String.fetchOne(db, sql: "SELECT MAX(ts) FROM bars WHERE symbol = ?", arguments: [symbol])
        }
        newest.withLockedValue { $0[symbol] = newestWritten }
        return bars.count
    }

    func noteNewest(_ symbol: String, _ date: String?) { newest.withLockedValue { $0[symbol] = date } }

    /// Upserts bars on (symbol, ts) inside the caller's transaction.
    static func writeBars(_ db: Database, symbol: String, bars: [Bar]) throws {
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
    }

    /// The date of the newest stored bar of `symbol`, from memory.
    public func newestBar(_ symbol: String) -> String? { newest.withLockedValue { $0[symbol] } }

    /// The most recent `limit` bars, oldest first.
    public func recentBars(_ symbol: String, limit: Int) async throws -> [Bar] {
        try await pool.read { db in
            try Self.bars(
                db,
                sql: "SELECT * FROM (SELECT * FROM bars WHERE symbol = ? ORDER BY ts DESC LIMIT ?) ORDER BY ts",
                arguments: [symbol, limit]
            )
        }
    }

    /// Bars in [from, to] (either bound optional), oldest first.
    public func bars(_ symbol: String, from: String? = nil, to: String? = nil) async throws -> [Bar] {
        try await pool.read { db in
            try Self.bars(
                db,
                sql: "SELECT * FROM bars WHERE symbol = ? AND ts >= ? AND ts <= ? ORDER BY ts",
                arguments: [symbol, from ?? "0000-00-00", to ?? "9999-99-99"]
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

    // MARK: Drill canary

    /// One canary write of an RTO/RPO drill.
    public struct CanaryRecord: Sendable, Equatable, Codable {
        public var seq: Int
        public var writtenAt: String
        public var receivedAt: String
    }

    /// Stores a canary write durably (`synchronous = FULL` for this commit) before returning; a repeated `seq`
    /// keeps the first write. Returns whether the row is new.
    public func writeCanary(seq: Int, writtenAt: String) async throws -> Bool {
        let received = ISO8601DateFormatter().string(from: Date())
        return try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
            var inserted = false
            try db.inTransaction {
                try db.execute(
                    sql:
                        "INSERT INTO drill_canary (seq, written_at, received_at) VALUES (?, ?, ?) ON CONFLICT (seq) DO NOTHING",
                    arguments: [seq, writtenAt, received]
                )
                inserted = db.changesCount > 0
                return .commit
            }
            return inserted
        }
    }

    /// The canary series from `seq` on, in order.
    public func canary(from seq: Int) async throws -> [CanaryRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM drill_canary WHERE seq >= ? ORDER BY seq", arguments: [seq]).map {
                CanaryRecord(seq: $0["seq"], writtenAt: $0["written_at"], receivedAt: $0["received_at"])
            }
        }
    }
}
