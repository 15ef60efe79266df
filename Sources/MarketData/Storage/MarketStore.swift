import Foundation

/// The reference API's storage, over one of two engines (``MarketStorage``): SQLite, embedded and the default, or
/// PostgreSQL, shared by several `serve` instances.
///
/// What both engines share lives here once: the timestamps written, the default bounds of a query, how a failed
/// attempt becomes the symbol's next retry. Open an engine with ``MarketStore/init(path:)`` (SQLite) or for
/// either with ``withMarketStore(_:logger:_:)``.
public final class MarketStore: Sendable {
    /// The engine underneath.
    public let storage: any MarketStorage

    public init(storage: any MarketStorage) { self.storage = storage }

    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    public convenience init(path: String) throws { self.init(storage: try SQLiteStorage(path: path)) }

    /// The SQLite file, when the engine is SQLite.
    public var path: String? { (storage as? SQLiteStorage)?.path }

    /// The database answers and every migration is applied (`/readyz`).
    public func isReady() async -> Bool { await storage.isReady() }

    // MARK: Symbols and bars

    public func addSymbols(_ symbols: [String]) async throws {
        try await storage.addSymbols(symbols, addedAt: ISO8601DateFormatter().string(from: Date()))
    }

    public func symbols() async throws -> [String] { try await storage.symbols() }

    public func hasSymbol(_ symbol: String) async throws -> Bool { try await storage.hasSymbol(symbol) }

    /// Inserts or updates bars on (symbol, ts), in one transaction; returns the rows written.
    @discardableResult
    public func upsert(_ bars: [Bar], symbol: String) async throws -> Int {
        guard !bars.isEmpty else { return 0 }
        _ = try await storage.upsert(bars, symbol: symbol, status: nil)
        return bars.count
    }

    /// The date of the newest stored bar of `symbol` (SQLite: from memory; PostgreSQL: one indexed lookup, so an
    /// instance sees what another wrote).
    public func newestBar(_ symbol: String) async throws -> String? { try await storage.newestBar(symbol) }

    /// The most recent `limit` bars, oldest first.
    public func recentBars(_ symbol: String, limit: Int) async throws -> [Bar] {
        try await storage.recentBars(symbol, limit: limit)
    }

    /// Bars in [from, to] (either bound optional), oldest first.
    public func bars(_ symbol: String, from: String? = nil, to: String? = nil) async throws -> [Bar] {
        try await storage.bars(symbol, from: from ?? "0000-00-00", to: to ?? "9999-99-99")
    }

    // MARK: Drill canary

    /// One canary write of an RTO/RPO drill.
    public struct CanaryRecord: Sendable, Equatable, Codable {
        public var seq: Int
        public var writtenAt: String
        public var receivedAt: String
    }

    /// Stores a canary write durably before returning; a repeated `seq` keeps the first write. Returns whether the
    /// row is new.
    public func writeCanary(seq: Int, writtenAt: String) async throws -> Bool {
        try await storage.writeCanary(
            seq: seq,
            writtenAt: writtenAt,
            receivedAt: ISO8601DateFormatter().string(from: Date())
        )
    }

    /// The canary series from `seq` on, in order.
    public func canary(from seq: Int) async throws -> [CanaryRecord] { try await storage.canary(from: seq) }
}
