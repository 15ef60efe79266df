import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store is and how to log in; built from `serve --db postgres://…`.
public struct PostgresStoreConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 5432
    public var username: String
    /// From the environment (`PGPASSWORD` or `--db-password-env`), never from the URL: a URL on a command line is
    /// visible to every user of the machine (`ps`), and it ends up in logs.
    public var password: String?
    public var database: String
    /// The schema the tables live in (created when missing); nil uses the server's `search_path` (`public`).
    public var schema: String?
    /// `disable`, `prefer` (TLS when the server offers it, the default) or `require`.
    public var tls: TLSMode = .prefer
    /// The pool's limit per `serve` instance.
    public var maxConnections = 20

    public enum TLSMode: String, Sendable, Equatable { case disable, prefer, require }

    public init(username: String, password: String?, database: String) {
        self.username = username
        self.password = password
        self.database = database
    }

    /// Whether `text` names a PostgreSQL store (`postgres://` or `postgresql://`) rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Parses `postgres://USER@HOST[:PORT]/DATABASE[?schema=NAME&sslmode=disable|prefer|require]`.
    ///
    /// A password in the URL is refused, naming the fix; `password` comes from the environment.
    public init(url text: String, password: String?) throws(StoreLocationError) {
        guard Self.isURL(text), let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StoreLocationError(
                "--db \"\(Self.redacted(text))\" is not a URL like postgres://user@127.0.0.1:5432/db"
            )
        }
        guard url.password == nil else {
            throw StoreLocationError(
                "--db must not carry a password (it would show in `ps` and in logs): drop it from the URL and set "
                    + "PGPASSWORD, or name another variable with --db-password-env"
            )
        }
        guard let user = url.user, !user.isEmpty else {
            throw StoreLocationError("--db needs a user: postgres://USER@\(host)/DATABASE")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreLocationError("--db needs a database name: postgres://\(user)@\(host)/DATABASE")
        }
        self.init(username: user, password: password, database: database)
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        if let port = url.port { self.port = port }
        for item in url.queryItems ?? [] {
            switch item.name {
            case "schema":
                guard let name = item.value, Self.isIdentifier(name) else {
                    throw StoreLocationError(
                        "--db schema must match ^[a-z_][a-z0-9_]{0,62}$, got \"\(item.value ?? "")\""
                    )
                }
                schema = name
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw StoreLocationError(
                        "--db sslmode must be disable, prefer or require, got \"\(item.value ?? "")\""
                    )
                }
                tls = mode
            case "max_connections":
                guard let n = item.value.flatMap(Int.init), (1...1000).contains(n) else {
                    throw StoreLocationError("--db max_connections must be 1…1000, got \"\(item.value ?? "")\"")
                }
                maxConnections = n
            default:
                throw StoreLocationError(
                    "--db has an unknown option \"\(item.name)\"; known: schema, sslmode, max_connections"
                )
            }
        }
    }

    /// A lower-case SQL identifier safe to quote into DDL.
    static func isIdentifier(_ s: String) -> Bool {
        s.range(of: #"^[a-z_][a-z0-9_]{0,62}$"#, options: .regularExpression) != nil
    }

    /// A URL with any password replaced, for an error message.
    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? "postgres://***"
    }

    /// `user@host:port/database[?schema=…]`, never the password.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }

    var clientConfiguration: PostgresClient.Configuration {
        let tlsConfiguration: PostgresClient.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var c = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tlsConfiguration
        )
        c.options.maximumConnections = maxConnections
        c.options.connectTimeout = .seconds(5)
        if let schema { c.options.additionalStartupParameters = [("search_path", schema)] }
        return c
    }
}

/// The shared engine: PostgreSQL through postgres-nio, for several `serve` instances behind a load balancer.
///
/// The same tables as ``SQLiteStorage`` (timestamps as text in the "C" collation, so both engines order them
/// alike), versioned migrations run under an advisory lock so instances starting together apply them once, every
/// statement parameterised. A returned write has committed with `synchronous_commit = on`, i.e. its WAL is flushed.
/// The newest bar per symbol is read from the table on every request (an indexed lookup), because another
/// instance may have written it. Run ``run()`` (or use ``withMarketStore(_:logger:_:)``) while it is in use.
public final class PostgresStorage: MarketStorage {
    public let configuration: PostgresStoreConfiguration
    let client: PostgresClient
    let logger: Logger

    public init(configuration: PostgresStoreConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        client = PostgresClient(configuration: configuration.clientConfiguration, backgroundLogger: logger)
    }

    public var location: String { configuration.description }

    /// Runs the connection pool until the task is cancelled.
    public func run() async { await client.run() }

    /// Logs in once, outside the pool, so a wrong password, a missing database or a server that is not there fails
    /// at once with the server's reason and the fix (the pool would retry for a minute and then report only that
    /// its circuit breaker tripped); with `migrate`, applies the migrations on that connection, so the pool is
    /// first leased by the app, after `run()` has begun.
    public func checkLogin(migrate: Bool = false) async throws {
        let c = configuration
        let tls: PostgresConnection.Configuration.TLS =
            switch c.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        var connection = PostgresConnection.Configuration(
            host: c.host,
            port: c.port,
            username: c.username,
            password: c.password,
            database: c.database,
            tls: tls
        )
        connection.options.connectTimeout = .seconds(5)
        if let schema = c.schema { connection.options.additionalStartupParameters = [("search_path", schema)] }
        let opened: PostgresConnection
        do {
            opened = try await PostgresConnection.connect(configuration: connection, id: 0, logger: logger)
        } catch let error as PSQLError {
            throw PostgresStorageError(Self.explain(error, c))
        }
        do {
            if migrate { try await opened.withTransaction(logger: logger) { try await self.applyMigrations($0) } }
            try await opened.close()
        } catch {
            try? await opened.close()
            throw error
        }
    }

    /// A login failure in a sentence: the server's own message and SQLSTATE when it sent one, and what to do.
    static func explain(_ error: PSQLError, _ c: PostgresStoreConfiguration) -> String {
        let at = "PostgreSQL at \(c.description)"
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState] ?? "?"
            let fix =
                switch state {
                case "28P01", "28000":
                    c.password == nil
                        ? "; set PGPASSWORD, or name the variable holding it with --db-password-env"
                        : "; check the password in PGPASSWORD or the --db-password-env variable"
                case "3D000": "; create it (createdb -O \(c.username) \(c.database)) or fix the URL's path"
                default: ""
                }
            return "\(at) refused the login: \(message) (SQLSTATE \(state))\(fix)"
        }
        switch error.code {
        case .authMechanismRequiresPassword:
            return "\(at) asks for a password: set PGPASSWORD, or name the variable holding it with --db-password-env"
        case .connectionError:
            let cause = error.underlying.map { "\($0)" } ?? "no answer"
            return "cannot connect to \(at) (\(cause)); is the server running and listening on \(c.host):\(c.port)?"
        case .sslUnsupported:
            return "\(at) does not offer TLS, which sslmode=require asks for; use sslmode=prefer or disable on loopback"
        default:
            return "\(at) failed at login (\(error.code))"
        }
    }

    /// One migration: an identifier and its statements (one statement each: the extended protocol runs one).
    struct Migration {
        var identifier: String
        var statements: [String]
    }

    /// The same versions as `SQLiteStorage.migrator`, in PostgreSQL's dialect.
    static let migrations: [Migration] = [
        Migration(
            identifier: "v1",
            statements: [
                "CREATE TABLE symbols (symbol TEXT PRIMARY KEY, added_at TEXT NOT NULL)",
                """
                CREATE TABLE bars (
                    symbol TEXT NOT NULL,
                    ts TEXT COLLATE "C" NOT NULL,
                    open DOUBLE PRECISION NOT NULL, high DOUBLE PRECISION NOT NULL, low DOUBLE PRECISION NOT NULL,
                    close DOUBLE PRECISION NOT NULL, volume DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (symbol, ts)
                )
                """,
                """
                CREATE TABLE backfill_runs (
                    id BIGSERIAL PRIMARY KEY,
                    started_at TEXT COLLATE "C" NOT NULL,
                    finished_at TEXT COLLATE "C",
                    status TEXT NOT NULL,
                    symbols_total BIGINT NOT NULL DEFAULT 0,
                    symbols_ok BIGINT NOT NULL DEFAULT 0,
                    symbols_failed BIGINT NOT NULL DEFAULT 0,
                    requests BIGINT NOT NULL DEFAULT 0,
                    bars_written BIGINT NOT NULL DEFAULT 0,
                    rate_limit_hits BIGINT NOT NULL DEFAULT 0
                )
                """,
                """
                CREATE TABLE backfill_symbol_status (
                    symbol TEXT PRIMARY KEY,
                    newest_bar TEXT COLLATE "C",
                    open_gaps BIGINT NOT NULL DEFAULT 0,
                    attempts BIGINT NOT NULL DEFAULT 0,
                    next_retry_at TEXT COLLATE "C",
                    last_error TEXT,
                    updated_at TEXT COLLATE "C" NOT NULL
                )
                """,
                """
                CREATE TABLE rate_limit_events (
                    id BIGSERIAL PRIMARY KEY,
                    at TEXT COLLATE "C" NOT NULL,
                    provider TEXT NOT NULL,
                    http_status BIGINT,
                    retry_after DOUBLE PRECISION,
                    remaining BIGINT,
                    reset DOUBLE PRECISION,
                    endpoint TEXT
                )
                """,
                """
                CREATE TABLE drill_canary (
                    seq BIGINT PRIMARY KEY,
                    written_at TEXT NOT NULL,
                    received_at TEXT NOT NULL
                )
                """,
            ]
        ),
        Migration(
            identifier: "v2-attempts",
            statements: [
                """
                CREATE TABLE backfill_attempts (
                    id BIGSERIAL PRIMARY KEY,
                    at TEXT COLLATE "C" NOT NULL,
                    symbol TEXT NOT NULL,
                    endpoint TEXT NOT NULL,
                    attempt BIGINT NOT NULL,
                    http_status BIGINT,
                    error TEXT,
                    outcome TEXT NOT NULL,
                    wait_seconds DOUBLE PRECISION,
                    retry_after DOUBLE PRECISION,
                    limiter_wait_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
                    duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX backfill_attempts_at ON backfill_attempts (at)",
                "CREATE INDEX backfill_attempts_symbol ON backfill_attempts (symbol, id)",
            ]
        ),
        Migration(
            identifier: "v3-run-symbols",
            statements: [
                """
                CREATE TABLE backfill_run_symbols (
                    run_id BIGINT NOT NULL,
                    symbol TEXT NOT NULL,
                    state TEXT NOT NULL,
                    requests BIGINT NOT NULL DEFAULT 0,
                    bars_written BIGINT NOT NULL DEFAULT 0,
                    rate_limit_hits BIGINT NOT NULL DEFAULT 0,
                    error TEXT,
                    newest_bar TEXT COLLATE "C",
                    PRIMARY KEY (run_id, symbol)
                )
                """
            ]
        ),
    ]

    /// A fixed advisory-lock key: instances migrating the same database at once take turns.
    static let migrationLock = 0x7072_6566_6c69

    /// Applies the migrations not yet applied, in one transaction under the advisory lock; applying twice changes
    /// nothing. Needs ``run()`` going.
    public func migrate() async throws {
        try await client.withTransaction(logger: logger) { try await self.applyMigrations($0) }
    }

    /// The migrations not yet recorded, in one transaction under the advisory lock (`c` is inside it).
    private func applyMigrations(_ c: PostgresConnection) async throws {
        try await c.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
        if let schema = configuration.schema {
            // `schema` is a checked identifier (`isIdentifier`); DDL cannot take it as a parameter.
            try await c.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: "\"\(schema)\"")", logger: logger)
        }
        try await c.query(
            "CREATE TABLE IF NOT EXISTS preflight_migrations (identifier TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
            logger: logger
        )
        var applied = Set<String>()
        for try await id in try await c.query("SELECT identifier FROM preflight_migrations", logger: logger)
            .decode(String.self)
        {
            applied.insert(id)
        }
        for migration in Self.migrations where !applied.contains(migration.identifier) {
            for statement in migration.statements {
                try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            let now = MarketStore.timestamp()
            try await c.query(
                "INSERT INTO preflight_migrations (identifier, applied_at) VALUES (\(migration.identifier), \(now))",
                logger: logger
            )
        }
    }

    public func isReady() async -> Bool {
        do {
            var applied = Set<String>()
            for try await id in try await client.query("SELECT identifier FROM preflight_migrations", logger: logger)
                .decode(String.self)
            {
                applied.insert(id)
            }
            return Set(Self.migrations.map(\.identifier)).isSubset(of: applied)
        } catch {
            return false
        }
    }

    // MARK: Symbols and bars

    public func addSymbols(_ symbols: [String], addedAt: String) async throws {
        guard !symbols.isEmpty else { return }
        try await client.query(
            """
            INSERT INTO symbols (symbol, added_at) SELECT s, \(addedAt) FROM UNNEST(\(symbols)::text[]) AS s
            ON CONFLICT DO NOTHING
            """,
            logger: logger
        )
    }

    public func symbols() async throws -> [String] {
        try await collect(client.query("SELECT symbol FROM symbols ORDER BY symbol", logger: logger), String.self)
    }

    public func hasSymbol(_ symbol: String) async throws -> Bool {
        try await collect(
            client.query("SELECT EXISTS (SELECT 1 FROM symbols WHERE symbol = \(symbol))", logger: logger),
            Bool.self
        ).first ?? false
    }

    public func upsert(_ bars: [Bar], symbol: String, status: SymbolStatusWrite?) async throws -> String? {
        try await client.withTransaction(logger: logger) { c in
            if !bars.isEmpty {
                // One statement for the whole chunk: arrays bound as parameters, unnested server-side.
                try await c.query(
                    """
                    INSERT INTO bars (symbol, ts, open, high, low, close, volume)
                    SELECT \(symbol), * FROM UNNEST(\(bars.map(\.date))::text[], \(bars.map(\.open))::float8[],
                        \(bars.map(\.high))::float8[], \(bars.map(\.low))::float8[], \(bars.map(\.close))::float8[],
                        \(bars.map(\.volume))::float8[])
                    ON CONFLICT (symbol, ts) DO UPDATE SET open = excluded.open, high = excluded.high,
                        low = excluded.low, close = excluded.close, volume = excluded.volume
                    """,
                    logger: logger
                )
            }
            let newest = try await Self.newest(c, symbol: symbol, logger: logger)
            if let status { try await Self.upsertStatus(c, status, newest: newest, logger: logger) }
            return newest
        }
    }

    static func newest(_ c: PostgresConnection, symbol: String, logger: Logger) async throws -> String? {
        for try await newest in try await c.query("SELECT MAX(ts) FROM bars WHERE symbol = \(symbol)", logger: logger)
            .decode(String?.self)
        {
            return newest
        }
        return nil
    }

    public func newestBar(_ symbol: String) async throws -> String? {
        try await collect(
            client.query("SELECT MAX(ts) FROM bars WHERE symbol = \(symbol)", logger: logger),
            String?.self
        ).first ?? nil
    }

    public func recentBars(_ symbol: String, limit: Int) async throws -> [Bar] {
        try await barRows(
            client.query(
                """
                SELECT ts, open, high, low, close, volume FROM
                    (SELECT * FROM bars WHERE symbol = \(symbol) ORDER BY ts DESC LIMIT \(limit)) AS recent
                ORDER BY ts
                """,
                logger: logger
            )
        )
    }

    public func bars(_ symbol: String, from: String, to: String) async throws -> [Bar] {
        try await barRows(
            client.query(
                """
                SELECT ts, open, high, low, close, volume FROM bars
                WHERE symbol = \(symbol) AND ts >= \(from) AND ts <= \(to) ORDER BY ts
                """,
                logger: logger
            )
        )
    }

    private func barRows(_ rows: PostgresRowSequence) async throws -> [Bar] {
        var bars: [Bar] = []
        for try await (ts, open, high, low, close, volume) in rows.decode(
            (String, Double, Double, Double, Double, Double).self
        ) {
            bars.append(Bar(date: ts, open: open, high: high, low: low, close: close, volume: volume))
        }
        return bars
    }

    public func storedDates(_ symbol: String, from: String) async throws -> Set<String> {
        Set(
            try await collect(
                client.query("SELECT ts FROM bars WHERE symbol = \(symbol) AND ts >= \(from)", logger: logger),
                String.self
            )
        )
    }

    public func barCounts(from: String, to: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for try await (symbol, n) in try await client.query(
            "SELECT symbol, COUNT(*) FROM bars WHERE ts >= \(from) AND ts <= \(to) GROUP BY symbol",
            logger: logger
        ).decode((String, Int).self) {
            counts[symbol] = n
        }
        return counts
    }

    // MARK: Drill canary

    /// `synchronous_commit = on` for this transaction whatever the server's default: the COMMIT returns only after
    /// the WAL record is flushed, so an acknowledged canary survives a crash of this instance or of the server.
    public func writeCanary(seq: Int, writtenAt: String, receivedAt: String) async throws -> Bool {
        try await client.withTransaction(logger: logger) { c in
            try await c.query("SET LOCAL synchronous_commit = on", logger: logger)
            var inserted = false
            for try await _ in try await c.query(
                """
                INSERT INTO drill_canary (seq, written_at, received_at) VALUES (\(seq), \(writtenAt), \(receivedAt))
                ON CONFLICT (seq) DO NOTHING RETURNING seq
                """,
                logger: logger
            ).decode(Int.self) {
                inserted = true
            }
            return inserted
        }
    }

    public func canary(from seq: Int) async throws -> [MarketStore.CanaryRecord] {
        var records: [MarketStore.CanaryRecord] = []
        for try await (seq, written, received) in try await client.query(
            "SELECT seq, written_at, received_at FROM drill_canary WHERE seq >= \(seq) ORDER BY seq",
            logger: logger
        ).decode((Int, String, String).self) {
            records.append(MarketStore.CanaryRecord(seq: seq, writtenAt: written, receivedAt: received))
        }
        return records
    }

    // MARK: Backfill runs and symbol status

    public func startRun(symbols: Int, startedAt: String, status: String) async throws -> Int64 {
        let ids = try await collect(
            client.query(
                """
                INSERT INTO backfill_runs (started_at, status, symbols_total) VALUES (\(startedAt), \(status), \(symbols))
                RETURNING id
                """,
                logger: logger
            ),
            Int64.self
        )
        guard let id = ids.first else { throw PostgresStorageError("INSERT … RETURNING id gave no row") }
        return id
    }

    public func beginRun(_ id: Int64, startedAt: String) async throws {
        try await client.query(
            "UPDATE backfill_runs SET started_at = \(startedAt), status = 'running' WHERE id = \(id)",
            logger: logger
        )
    }

    public func finishRun(
        _ id: Int64,
        finishedAt: String,
        status: String,
        counts c: RunCounts,
        symbols: [MarketStore.RunSymbolRow]
    ) async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query(
                """
                UPDATE backfill_runs SET finished_at = \(finishedAt), status = \(status), symbols_ok = \(c.ok),
                    symbols_failed = \(c.failed), requests = \(c.requests), bars_written = \(c.barsWritten),
                    rate_limit_hits = \(c.rateLimitHits)
                WHERE id = \(id)
                """,
                logger: logger
            )
            guard !symbols.isEmpty else { return }
            // One statement for every symbol: arrays bound as parameters, unnested server-side (an empty error
            // is none: postgres-nio binds no NULL inside an array).
            try await conn.query(
                """
                INSERT INTO backfill_run_symbols
                    (run_id, symbol, state, requests, bars_written, rate_limit_hits, error, newest_bar)
                SELECT \(id), s.symbol, s.state, s.requests, s.bars_written, s.hits, NULLIF(s.error, ''),
                    (SELECT MAX(ts) FROM bars b WHERE b.symbol = s.symbol)
                FROM UNNEST(\(symbols.map(\.symbol))::text[], \(symbols.map(\.state))::text[],
                    \(symbols.map(\.requests))::int8[], \(symbols.map(\.barsWritten))::int8[],
                    \(symbols.map(\.rateLimitHits))::int8[], \(symbols.map { $0.error ?? "" })::text[])
                    AS s(symbol, state, requests, bars_written, hits, error)
                ON CONFLICT (run_id, symbol) DO UPDATE SET state = excluded.state, requests = excluded.requests,
                    bars_written = excluded.bars_written, rate_limit_hits = excluded.rate_limit_hits,
                    error = excluded.error, newest_bar = excluded.newest_bar
                """,
                logger: logger
            )
        }
    }

    public func runs(limit: Int) async throws -> [MarketStore.RunRow] {
        try await runRows(
            client.query(
                """
                SELECT id, started_at, finished_at, status, symbols_total, symbols_ok, symbols_failed, requests,
                    bars_written, rate_limit_hits
                FROM backfill_runs ORDER BY id DESC LIMIT \(limit)
                """,
                logger: logger
            )
        )
    }

    public func run(_ id: Int64) async throws -> MarketStore.RunRow? {
        try await runRows(
            client.query(
                """
                SELECT id, started_at, finished_at, status, symbols_total, symbols_ok, symbols_failed, requests,
                    bars_written, rate_limit_hits
                FROM backfill_runs WHERE id = \(id)
                """,
                logger: logger
            )
        ).first
    }

    private func runRows(_ sequence: PostgresRowSequence) async throws -> [MarketStore.RunRow] {
        var rows: [MarketStore.RunRow] = []
        for try await (id, started, finished, status, total, ok, failed, requests, bars, hits)
            in sequence.decode((Int64, String, String?, String, Int, Int, Int, Int, Int, Int).self)
        {
            rows.append(
                MarketStore.RunRow(
                    id: id,
                    startedAt: started,
                    finishedAt: finished,
                    status: status,
                    symbolsTotal: total,
                    symbolsOk: ok,
                    symbolsFailed: failed,
                    requests: requests,
                    barsWritten: bars,
                    rateLimitHits: hits
                )
            )
        }
        return rows
    }

    public func runSymbols(_ id: Int64) async throws -> [MarketStore.RunSymbolRow] {
        var rows: [MarketStore.RunSymbolRow] = []
        for try await (symbol, state, requests, bars, hits, error, newest)
            in try await client.query(
                """
                SELECT symbol, state, requests, bars_written, rate_limit_hits, error, newest_bar
                FROM backfill_run_symbols WHERE run_id = \(id) ORDER BY symbol
                """,
                logger: logger
            ).decode((String, String, Int, Int, Int, String?, String?).self)
        {
            rows.append(
                MarketStore.RunSymbolRow(
                    symbol: symbol,
                    state: state,
                    requests: requests,
                    barsWritten: bars,
                    rateLimitHits: hits,
                    error: error,
                    newestBar: newest
                )
            )
        }
        return rows
    }

    public func recordSymbolStatus(_ status: SymbolStatusWrite) async throws {
        try await client.withTransaction(logger: logger) { c in
            let newest = try await Self.newest(c, symbol: status.symbol, logger: logger)
            try await Self.upsertStatus(c, status, newest: newest, logger: logger)
        }
    }

    static func upsertStatus(
        _ c: PostgresConnection,
        _ s: SymbolStatusWrite,
        newest: String?,
        logger: Logger
    ) async throws {
        try await c.query(
            """
            INSERT INTO backfill_symbol_status (symbol, newest_bar, open_gaps, attempts, next_retry_at, last_error,
                updated_at)
            VALUES (\(s.symbol), \(newest), \(s.openGaps), \(s.attempts), \(s.nextRetryAt), \(s.lastError), \(s.updatedAt))
            ON CONFLICT (symbol) DO UPDATE SET newest_bar = excluded.newest_bar, open_gaps = excluded.open_gaps,
                attempts = excluded.attempts, next_retry_at = excluded.next_retry_at, last_error = excluded.last_error,
                updated_at = excluded.updated_at
            """,
            logger: logger
        )
    }

    public func symbolStatuses() async throws -> [MarketStore.SymbolStatusRow] {
        var rows: [MarketStore.SymbolStatusRow] = []
        for try await (symbol, newest, gaps, attempts, next, error, updated) in try await client.query(
            """
            SELECT symbol, newest_bar, open_gaps, attempts, next_retry_at, last_error, updated_at
            FROM backfill_symbol_status ORDER BY symbol
            """,
            logger: logger
        ).decode((String, String?, Int, Int, String?, String?, String).self) {
            rows.append(
                MarketStore.SymbolStatusRow(
                    symbol: symbol,
                    newestBar: newest,
                    openGaps: gaps,
                    attempts: attempts,
                    nextRetryAt: next,
                    lastError: error,
                    updatedAt: updated
                )
            )
        }
        return rows
    }

    // MARK: Rate limits and attempts

    public func recordRateLimit(_ e: MarketStore.RateLimitRow) async throws {
        try await client.query(
            """
            INSERT INTO rate_limit_events (at, provider, http_status, retry_after, remaining, reset, endpoint)
            VALUES (\(e.at), \(e.provider), \(e.httpStatus), \(e.retryAfter), \(e.remaining), \(e.reset), \(e.endpoint))
            """,
            logger: logger
        )
    }

    public func rateLimitEvents(limit: Int) async throws -> [MarketStore.RateLimitRow] {
        var rows: [MarketStore.RateLimitRow] = []
        for try await (at, provider, status, retryAfter, remaining, reset, endpoint) in try await client.query(
            """
            SELECT at, provider, http_status, retry_after, remaining, reset, endpoint
            FROM rate_limit_events ORDER BY id DESC LIMIT \(limit)
            """,
            logger: logger
        ).decode((String, String, Int?, Double?, Int?, Double?, String?).self) {
            rows.append(
                MarketStore.RateLimitRow(
                    at: at,
                    provider: provider,
                    httpStatus: status,
                    retryAfter: retryAfter,
                    remaining: remaining,
                    reset: reset,
                    endpoint: endpoint
                )
            )
        }
        return rows
    }

    public func recordAttempt(_ a: MarketStore.AttemptRow, retry: RetryNote?) async throws {
        try await client.withTransaction(logger: logger) { c in
            try await c.query(
                """
                INSERT INTO backfill_attempts (at, symbol, endpoint, attempt, http_status, error, outcome, wait_seconds,
                    retry_after, limiter_wait_seconds, duration_seconds)
                VALUES (\(a.at), \(a.symbol), \(a.endpoint), \(a.attempt), \(a.httpStatus), \(a.error), \(a.outcome),
                    \(a.waitSeconds), \(a.retryAfter), \(a.limiterWaitSeconds), \(a.durationSeconds))
                """,
                logger: logger
            )
            if let retry {
                try await c.query(
                    """
                    INSERT INTO backfill_symbol_status (symbol, attempts, next_retry_at, last_error, updated_at)
                    VALUES (\(a.symbol), \(a.attempt), \(retry.nextRetryAt), \(retry.lastError), \(retry.updatedAt))
                    ON CONFLICT (symbol) DO UPDATE SET next_retry_at = excluded.next_retry_at,
                        last_error = excluded.last_error, updated_at = excluded.updated_at
                    """,
                    logger: logger
                )
            }
        }
    }

    public func pruneAttempts(before: String) async throws {
        try await client.query("DELETE FROM backfill_attempts WHERE at < \(before)", logger: logger)
    }

    public func attemptSummary(since: String) async throws -> MarketStore.AttemptSummary {
        for try await (attempts, retries, limited, timeouts, failed, gaveUp, backoff, limiter, maxRetryAfter)
            in try await client.query(
                """
                SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome = 'retry'), COUNT(*) FILTER (WHERE http_status = 429),
                    COUNT(*) FILTER (WHERE error = 'timeout'), COUNT(*) FILTER (WHERE outcome <> 'ok'),
                    COUNT(*) FILTER (WHERE outcome = 'gave_up'), COALESCE(SUM(wait_seconds), 0)::float8,
                    COALESCE(SUM(limiter_wait_seconds), 0)::float8, MAX(retry_after)
                FROM backfill_attempts WHERE at >= \(since)
                """,
                logger: logger
            ).decode((Int, Int, Int, Int, Int, Int, Double, Double, Double?).self)
        {
            return MarketStore.AttemptSummary(
                attempts: attempts,
                retries: retries,
                rateLimited: limited,
                timeouts: timeouts,
                failed: failed,
                gaveUp: gaveUp,
                backoffWaitSeconds: backoff,
                limiterWaitSeconds: limiter,
                maxRetryAfterSeconds: maxRetryAfter
            )
        }
        return MarketStore.AttemptSummary()
    }

    public func attempts(symbol: String?, limit: Int) async throws -> [MarketStore.AttemptRow] {
        let columns = """
            SELECT at, symbol, endpoint, attempt, http_status, error, outcome, wait_seconds, retry_after,
                limiter_wait_seconds, duration_seconds FROM backfill_attempts
            """
        let query: PostgresQuery =
            if let symbol {
                "\(unescaped: columns) WHERE symbol = \(symbol) ORDER BY id DESC LIMIT \(limit)"
            } else {
                "\(unescaped: columns) ORDER BY id DESC LIMIT \(limit)"
            }
        var rows: [MarketStore.AttemptRow] = []
        for try await (at, symbol, endpoint, attempt, status, error, outcome, wait, retryAfter, limiter, duration)
            in try await client.query(query, logger: logger).decode(
                (String, String, String, Int, Int?, String?, String, Double?, Double?, Double, Double).self
            )
        {
            rows.append(
                MarketStore.AttemptRow(
                    at: at,
                    symbol: symbol,
                    endpoint: endpoint,
                    attempt: attempt,
                    httpStatus: status,
                    error: error,
                    outcome: outcome,
                    waitSeconds: wait,
                    retryAfter: retryAfter,
                    limiterWaitSeconds: limiter,
                    durationSeconds: duration
                )
            )
        }
        return rows
    }

    private func collect<T: PostgresDecodable & Sendable>(
        _ rows: PostgresRowSequence,
        _ type: T.Type
    ) async throws -> [T] {
        var values: [T] = []
        for try await value in rows.decode(T.self) { values.append(value) }
        return values
    }
}

/// A PostgreSQL answer the store did not expect.
public struct PostgresStorageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
