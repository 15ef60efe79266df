import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import MarketData

/// The storage engines the contract runs against: SQLite always; PostgreSQL when `PREFLIGHT_TEST_POSTGRES_URL`
/// names a database (`.ci/run` starts one; locally `eval "$(sudo scripts/ci/postgres.sh)"`).
enum Engine: String, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["PREFLIGHT_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var available: [Engine] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A PostgreSQL configuration on a schema of its own, so tests never see each other's rows.
    static func postgresConfiguration(schema: String) throws -> PostgresStoreConfiguration {
        let url = try #require(postgresURL)
        guard case .postgres(var c) = try StoreLocation(url) else { throw StoreLocationError("not a postgres URL") }
        c.schema = schema
        c.maxConnections = 4
        return c
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "storage-test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` on a fresh, empty store of this engine; a PostgreSQL schema is dropped afterwards.
    func withFreshStore(_ body: @Sendable (MarketStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            try await withMarketStore(.sqlite(path: temporaryDatabase()), logger: Self.quietLogger, body)
        case .postgres:
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
            let configuration = try Self.postgresConfiguration(schema: String(schema))
            try await withMarketStore(.postgres(configuration), logger: Self.quietLogger) { store in
                do {
                    try await body(store)
                } catch {
                    try? await Self.drop(store, schema: String(schema))
                    throw error
                }
                try await Self.drop(store, schema: String(schema))
            }
        }
    }

    static func drop(_ store: MarketStore, schema: String) async throws {
        let storage = try #require(store.storage as? PostgresStorage)
        try await storage.client.query("DROP SCHEMA \(unescaped: "\"\(schema)\"") CASCADE")
    }
}

/// One suite, both engines: what the API, the scheduler and the drill rely on behaves the same on SQLite and
/// PostgreSQL.
@Suite struct StorageContractTests {
    @Test func ciRunsThePostgreSQLHalfOfTheSuite() throws {
        // Without this, a CI machine without PostgreSQL would pass the suite on SQLite alone.
        guard ProcessInfo.processInfo.environment["CI"] == "true" else { return }
        #expect(
            Engine.postgresURL != nil,
            "CI must start PostgreSQL and set PREFLIGHT_TEST_POSTGRES_URL (scripts/ci/postgres.sh)"
        )
    }

    @Test(arguments: Engine.available)
    func migrationsApplyOnceAndTheStoreIsReady(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            #expect(await store.isReady())
            if let pg = store.storage as? PostgresStorage {
                try await pg.migrate()  // again: nothing to do
                async let a: Void = pg.migrate()
                async let b: Void = pg.migrate()  // two instances starting together take turns on the lock
                _ = try await (a, b)
                let applied = try await pg.client.query("SELECT count(*) FROM preflight_migrations")
                for try await n in applied.decode(Int.self) { #expect(n == PostgresStorage.migrations.count) }
            } else if let path = store.path {
                #expect(await (try MarketStore(path: path)).isReady())
            }
            #expect(await store.isReady())
        }
    }

    @Test(arguments: Engine.available)
    func symbolsAreAddedOnceAndListedInOrder(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            try await store.addSymbols(["MSFT", "AAPL", "MSFT"])
            try await store.addSymbols(["AAPL", "BRK.B"])
            #expect(try await store.symbols() == ["AAPL", "BRK.B", "MSFT"])
            #expect(try await store.hasSymbol("AAPL"))
            #expect(!(try await store.hasSymbol("ZZZ")))
        }
    }

    @Test(arguments: Engine.available)
    func barsUpsertOnSymbolAndDateAndReadBackInOrder(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            let bars = DemoData.bars(symbol: "AAPL", days: 30)
            #expect(try await store.newestBar("AAPL") == nil)
            #expect(try await store.upsert(Array(bars.prefix(20)), symbol: "AAPL") == 20)
            var changed = bars[19]
            changed.close = 12_345.5
            changed.volume = 7
            #expect(try await store.upsert([changed] + bars[20...], symbol: "AAPL") == 11)
            try await store.upsert(DemoData.bars(symbol: "MSFT", days: 5), symbol: "MSFT")
            let all = try await store.bars("AAPL")
            #expect(all.count == bars.count)
            #expect(all.map(\.date) == bars.map(\.date))
            #expect(all[19] == changed, "the second write of a date replaces the first")
            #expect(all.first == bars.first)
            #expect(try await store.newestBar("AAPL") == bars.last?.date)
            let recent = try await store.recentBars("AAPL", limit: 3)
            #expect(recent.map(\.date) == bars.suffix(3).map(\.date), "the last three, oldest first")
            let from = bars[10].date
            let to = bars[14].date
            #expect(try await store.bars("AAPL", from: from, to: to).map(\.date) == bars[10...14].map(\.date))
            #expect(try await store.storedDates("AAPL", from: bars[25].date) == Set(bars[25...].map(\.date)))
            // Per symbol in one query, bounds included (the admin endpoint's open gaps).
            #expect(try await store.barCounts(from: from, to: to) == ["AAPL": 5])
            #expect(try await store.barCounts(from: bars[0].date, to: bars[29].date) == ["AAPL": 30, "MSFT": 5])
            #expect(try await store.bars("NONE").isEmpty)
            #expect(try await store.upsert([], symbol: "AAPL") == 0)
        }
    }

    @Test(arguments: Engine.available)
    func aCanaryWriteIsKeptOnceAndReadBackInOrder(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            #expect(try await store.writeCanary(seq: 2, writtenAt: "t2"))
            #expect(try await store.writeCanary(seq: 1, writtenAt: "t1"))
            #expect(!(try await store.writeCanary(seq: 2, writtenAt: "t2-again")))
            #expect(try await store.writeCanary(seq: 3, writtenAt: "t3"))
            let rows = try await store.canary(from: 2)
            #expect(rows.map(\.seq) == [2, 3])
            #expect(rows.first?.writtenAt == "t2", "the first write of a seq is kept")
            #expect(rows.allSatisfy { !$0.receivedAt.isEmpty })
        }
    }

    @Test(arguments: Engine.available)
    func runsAreNumberedFinishedAndListedNewestFirst(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            let first = try await store.startRun(symbols: 3)
            let second = try await store.startRun(symbols: 5)
            #expect(second > first)
            try await store.finishRun(
                first,
                status: "ok",
                ok: 2,
                failed: 1,
                requests: 9,
                barsWritten: 40,
                rateLimitHits: 1
            )
            let runs = try await store.runs(limit: 10)
            #expect(runs.map(\.id) == [second, first])
            #expect(runs[0].status == "running")
            #expect(runs[0].finishedAt == nil)
            #expect(runs[0].symbolsTotal == 5)
            let done = runs[1]
            #expect(done.status == "ok")
            #expect(done.finishedAt.flatMap(MarketStore.date) != nil)
            #expect(
                [done.symbolsOk, done.symbolsFailed, done.requests, done.barsWritten, done.rateLimitHits]
                    == [Int]([2, 1, 9, 40, 1])
            )
            #expect(try await store.runs(limit: 1).map(\.id) == [second])
        }
    }

    @Test(arguments: Engine.available)
    func aQueuedRunStartsFinishesAndNamesEachSymbolWithItsNewestBar(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            let bars = DemoData.bars(symbol: "NVDA", days: 10)
            try await store.upsert(bars, symbol: "NVDA")
            let id = try await store.startRun(symbols: 2, queued: true)
            #expect(try await store.run(id)?.status == "queued")
            #expect(try await store.runSymbols(id).isEmpty)
            try await store.beginRun(id)
            #expect(try await store.run(id)?.status == "running")
            try await store.finishRun(
                id,
                status: "partial",
                ok: 1,
                failed: 1,
                requests: 4,
                barsWritten: 10,
                symbols: [
                    MarketStore.RunSymbolRow(symbol: "ZZZ", state: "unknown_symbol", requests: 1, error: "unknown"),
                    MarketStore.RunSymbolRow(symbol: "NVDA", state: "done", requests: 3, barsWritten: 10),
                ]
            )
            let run = try #require(try await store.run(id))
            #expect(run.status == "partial")
            #expect(run.finishedAt != nil)
            let rows = try await store.runSymbols(id)
            #expect(rows.map(\.symbol) == ["NVDA", "ZZZ"])
            #expect(
                rows[0]
                    == MarketStore.RunSymbolRow(
                        symbol: "NVDA",
                        state: "done",
                        requests: 3,
                        barsWritten: 10,
                        newestBar: bars.last?.date
                    )
            )
            #expect(rows[1].error == "unknown")
            #expect(rows[1].newestBar == nil, "no bar stored")
            #expect(try await store.run(id + 1) == nil)
            #expect(try await store.runSymbols(id + 1).isEmpty)
        }
    }

    @Test(arguments: Engine.available)
    func aChunkAndItsStatusAreWrittenTogether(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            let bars = DemoData.bars(symbol: "NVDA", days: 10)
            try await store.storeChunk(symbol: "NVDA", bars: bars, openGaps: 2, attempts: 1)
            let retryAt = Date().addingTimeInterval(60)
            try await store.recordSymbolStatus(
                symbol: "AMD",
                openGaps: 0,
                attempts: 3,
                error: "HTTP 503",
                nextRetryAt: retryAt
            )
            let statuses = try await store.symbolStatuses()
            #expect(statuses.map(\.symbol) == ["AMD", "NVDA"])
            let nvda = statuses[1]
            #expect(nvda.newestBar == bars.last?.date)
            #expect(nvda.openGaps == 2)
            #expect(nvda.attempts == 1)
            #expect(nvda.lastError == nil)
            let amd = statuses[0]
            #expect(amd.newestBar == nil)
            #expect(amd.lastError == "HTTP 503")
            let next = try #require(amd.nextRetryAt.flatMap(MarketStore.date))
            #expect(abs(next.timeIntervalSince(retryAt)) < 0.01)
            #expect(try await store.newestBar("NVDA") == bars.last?.date)
        }
    }

    @Test(arguments: Engine.available)
    func rateLimitEventsKeepTheirOptionalFields(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            let at = Date()
            try await store.recordRateLimit(
                RateLimitEvent(
                    at: at,
                    provider: "sim",
                    status: 429,
                    retryAfter: 2.5,
                    remaining: 0,
                    reset: 12,
                    endpoint: "/v2/aggs"
                )
            )
            try await store.recordRateLimit(
                RateLimitEvent(
                    at: at.addingTimeInterval(1),
                    provider: "sim",
                    status: 200,
                    retryAfter: nil,
                    remaining: nil,
                    reset: nil,
                    endpoint: "/v2/aggs"
                )
            )
            let events = try await store.rateLimitEvents(limit: 10)
            #expect(events.map(\.httpStatus) == [200, 429])
            #expect(events[0].retryAfter == nil && events[0].remaining == nil && events[0].reset == nil)
            #expect(events[1].retryAfter == 2.5 && events[1].remaining == 0 && events[1].reset == 12)
        }
    }

    @Test(arguments: Engine.available)
    func attemptsAreRecordedSummedFilteredAndPruned(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            var old = ProviderAttempt(symbol: "AAA", endpoint: "/x", attempt: 1)
            old.at = Date().addingTimeInterval(-MarketStore.attemptRetention - 60)
            old.outcome = .ok
            try await store.recordAttempt(old)
            var retry = ProviderAttempt(symbol: "BBB", endpoint: "/y", attempt: 1)
            retry.status = 429
            retry.waitSeconds = 2
            retry.retryAfterSeconds = 2
            retry.limiterWaitSeconds = 0.5
            try await store.recordAttempt(retry)
            var timeout = ProviderAttempt(symbol: "BBB", endpoint: "/y", attempt: 2)
            timeout.error = "timeout"
            timeout.outcome = .gaveUp
            try await store.recordAttempt(timeout)
            var ok = ProviderAttempt(symbol: "AAA", endpoint: "/x", attempt: 1)
            ok.status = 200
            ok.outcome = .ok
            ok.durationSeconds = 0.25
            try await store.recordAttempt(ok)

            let hour = try await store.attemptSummary(since: Date().addingTimeInterval(-3600))
            #expect(hour.attempts == 3)
            #expect(hour.retries == 1)
            #expect(hour.rateLimited == 1)
            #expect(hour.timeouts == 1)
            #expect(hour.failed == 2)
            #expect(hour.gaveUp == 1)
            #expect(hour.backoffWaitSeconds == 2)
            #expect(hour.limiterWaitSeconds == 0.5)
            #expect(hour.maxRetryAfterSeconds == 2)
            #expect(try await store.attemptSummary(since: .distantPast).attempts == 4)
            #expect(try await store.attemptSummary(since: Date().addingTimeInterval(60)) == .init())

            let bbb = try await store.attempts(symbol: "BBB")
            #expect(bbb.map(\.attempt) == [2, 1], "newest first")
            #expect(bbb[0].error == "timeout" && bbb[0].httpStatus == nil && bbb[0].outcome == "gave_up")
            #expect(bbb[1].waitSeconds == 2 && bbb[1].retryAfter == 2 && bbb[1].limiterWaitSeconds == 0.5)
            #expect(try await store.attempts(limit: 2).count == 2)

            // The retry set BBB's next retry to the failed attempt's time plus its wait.
            let status = try #require(try await store.symbolStatuses().first { $0.symbol == "BBB" })
            let next = try #require(status.nextRetryAt.flatMap(MarketStore.date))
            #expect(abs(next.timeIntervalSince(retry.at.addingTimeInterval(2))) < 0.01)
            #expect(status.lastError == "attempt 1 failed (HTTP 429); retrying")

            try await store.pruneAttempts(before: Date().addingTimeInterval(-MarketStore.attemptRetention))
            #expect(try await store.attempts().count == 3)
        }
    }

    @Test(arguments: Engine.available)
    func theAPIServesFeaturesFromEitherEngineWithTheCacheKeyedOnTheNewestBar(engine: Engine) async throws {
        try await engine.withFreshStore { store in
            try await store.addSymbols(["AAPL"])
            let bars = DemoData.bars(symbol: "AAPL", days: 260)
            try await store.upsert(Array(bars.dropLast()), symbol: "AAPL")
            let services = MarketDataServices(store: store, configuration: MarketDataConfiguration(databasePath: ""))
            try await application(services).test(.router) { client in
                let first = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get)
                #expect(first.status == .ok)
                #expect(first.headers[HTTPField.Name("X-Cache")!] == "MISS")
                #expect(try json(first.body)["bars"] as? Int == 259)
                let second = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get)
                #expect(second.headers[HTTPField.Name("X-Cache")!] == "HIT")
                try await store.upsert([bars.last!], symbol: "AAPL")
                let third = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get)
                #expect(third.headers[HTTPField.Name("X-Cache")!] == "MISS", "a new bar is a new cache key")
                #expect(try json(third.body)["bars"] as? Int == 260)
                let canary = try await client.execute(
                    uri: "/api/v1/admin/drill/canary",
                    method: .post,
                    body: ByteBuffer(string: #"{"seq":7,"writtenAt":"w"}"#)
                )
                #expect(canary.status == .ok || canary.status == .created)
                let read = try await client.execute(uri: "/api/v1/admin/drill/canary?from=0", method: .get)
                #expect((try json(read.body)["canary"] as? [[String: Any]])?.count == 1)
                #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            }
        }
    }

    /// What several `serve` instances on one PostgreSQL rely on: one instance's writes are the next request's
    /// truth on another (SQLite keeps the newest bar per process, so this holds for PostgreSQL only).
    @Test(.enabled(if: Engine.postgresURL != nil))
    func twoInstancesOnOnePostgreSQLSeeEachOthersWrites() async throws {
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let configuration = try Engine.postgresConfiguration(schema: String(schema))
        try await withMarketStore(.postgres(configuration), logger: Engine.quietLogger) { a in
            try await withMarketStore(.postgres(configuration), logger: Engine.quietLogger) { b in
                let bars = DemoData.bars(symbol: "AAPL", days: 10)
                try await a.upsert(Array(bars.prefix(5)), symbol: "AAPL")
                #expect(try await b.newestBar("AAPL") == bars[4].date)
                try await b.upsert(Array(bars.suffix(5)), symbol: "AAPL")
                #expect(try await a.newestBar("AAPL") == bars[9].date)
                #expect(try await a.writeCanary(seq: 1, writtenAt: "a"))
                #expect(!(try await b.writeCanary(seq: 1, writtenAt: "b")))
                #expect(try await b.canary(from: 0).map(\.writtenAt) == ["a"])
            }
            try await Engine.drop(a, schema: String(schema))
        }
    }
}
