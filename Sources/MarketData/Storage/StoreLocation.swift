import Foundation
import Logging

/// Which engine holds the reference API's data: a SQLite file (the default) or a PostgreSQL database.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresStoreConfiguration)

    /// Reads `serve --db`: a `postgres://` URL, or else a SQLite file path. The PostgreSQL password comes from the
    /// variable `passwordVariable` names, else from `PGPASSWORD` (libpq's own), else none (trust or peer auth).
    public init(
        _ db: String,
        passwordVariable: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(StoreLocationError) {
        guard PostgresStoreConfiguration.isURL(db) else {
            guard passwordVariable == nil else {
                throw StoreLocationError("--db-password-env is for a postgres:// --db; \"\(db)\" is a SQLite file")
            }
            guard !db.isEmpty else { throw StoreLocationError("--db needs a SQLite file path or a postgres:// URL") }
            self = .sqlite(path: db)
            return
        }
        var password = environment["PGPASSWORD"]
        if let passwordVariable {
            guard let value = environment[passwordVariable], !value.isEmpty else {
                throw StoreLocationError(
                    "--db-password-env names \(passwordVariable), which is not set (or empty) in the environment"
                )
            }
            password = value
        }
        self = .postgres(try PostgresStoreConfiguration(url: db, password: password))
    }

    /// Where, without credentials.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite \(path)"
        case .postgres(let c): c.description
        }
    }
}

/// A `--db` that cannot be used, with the fix.
public struct StoreLocationError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Opens the store at `location` for the duration of `body`: migrations applied, and for PostgreSQL the connection
/// pool running beside `body` and closed when it returns or throws.
public func withMarketStore<Result: Sendable>(
    _ location: StoreLocation,
    logger: Logger,
    _ body: @Sendable (MarketStore) async throws -> Result
) async throws -> Result {
    switch location {
    case .sqlite(let path):
        return try await body(MarketStore(path: path))
    case .postgres(let configuration):
        let storage = PostgresStorage(configuration: configuration, logger: logger)
        // Migrations on the login's own connection: the pool's first lease is then the app's, long after `run()`
        // began (a lease before it waits correctly but logs a warning).
        try await storage.checkLogin(migrate: true)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await storage.run() }
            defer { group.cancelAll() }
            return try await body(MarketStore(storage: storage))
        }
    }
}
