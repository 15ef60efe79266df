import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import MarketData

/// A fresh on-disk database in a temporary folder.
func temporaryDatabase() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("md-\(UUID().uuidString)/market.sqlite").path
}

/// The API with `configure` applied, its store and the services behind the router.
func makeServices(_ configure: (inout MarketDataConfiguration) -> Void = { _ in }) async throws -> MarketDataServices {
    var configuration = MarketDataConfiguration(databasePath: temporaryDatabase())
    configure(&configuration)
    guard case .sqlite(let path) = configuration.database else { throw StoreLocationError("a SQLite store") }
    let store = try MarketStore(path: path)
    try await store.addSymbols(configuration.symbols)
    return MarketDataServices(store: store, configuration: configuration)
}

func application(_ services: MarketDataServices) -> some ApplicationProtocol {
    var logger = Logger(label: "market-data-test")
    logger.logLevel = .critical
    return Application(
        router: buildMarketDataRouter(services),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        logger: logger
    )
}

func json(_ body: ByteBuffer) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
}

struct MarketDataAPITests {
    @Test func featuresMissThenHitAndNewBarsMissAgain() async throws {
        let services = try await makeServices { $0.symbols = ["AAPL"] }
        let bars = DemoData.bars(symbol: "AAPL", days: 300)
        try await services.store.upsert(Array(bars.dropLast()), symbol: "AAPL")
        try await application(services).test(.router) { client in
            let first = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get)
            #expect(first.status == .ok)
            #expect(first.headers[HTTPField.Name("X-Cache")!] == "MISS")
            let body = try json(first.body)
            #expect(body["symbol"] as? String == "AAPL")
            #expect(body["bars"] as? Int == 299)
            let features = try #require(body["features"] as? [String: Any])
            #expect(Set(features.keys) == Set(QuantFeatures.names))
            #expect(features["sma_200"] is Double)
            #expect(features["return_252d"] is Double)
            let second = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get)
            #expect(second.headers[HTTPField.Name("X-Cache")!] == "HIT")
            #expect(second.body == first.body)

            try await services.store.upsert([bars.last!], symbol: "AAPL")
            let third = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get)
            #expect(third.headers[HTTPField.Name("X-Cache")!] == "MISS")
            let updated = try json(third.body)
            #expect(updated["asOf"] as? String == bars.last!.date)
            #expect(updated["bars"] as? Int == 300)
        }
    }

    @Test func symbolsAreValidatedAndUnknownOnesAre404() async throws {
        let services = try await makeServices { $0.symbols = ["AAPL", "EMPTY"] }
        try await services.store.upsert(DemoData.bars(symbol: "AAPL", days: 30), symbol: "AAPL")
        try await application(services).test(.router) { client in
            for bad in ["aapl", "1ABC", "TOOLONGSYMBOL1234", "A%20B", "A_B"] {
                let r = try await client.execute(uri: "/api/v1/features/quant/\(bad)", method: .get)
                #expect(r.status == .badRequest, "\(bad)")
                #expect(try json(r.body)["error"] != nil)
            }
            let unknown = try await client.execute(uri: "/api/v1/features/quant/ZZZ", method: .get)
            #expect(unknown.status == .notFound)
            let error = try #require(try json(unknown.body)["error"] as? [String: String])
            #expect(error["code"] == "unknown_symbol")
            let empty = try await client.execute(uri: "/api/v1/features/quant/EMPTY", method: .get)
            #expect(empty.status == .notFound)
            #expect(try json(empty.body)["error"].map { ($0 as? [String: String])?["code"] } == "no_bars")
            let ok = try await client.execute(uri: "/api/v1/features/quant/BRK.B", method: .get)
            #expect(ok.status == .notFound, "a valid symbol that is not stored")
        }
    }

    @Test func barsAreServedOldestFirstWithinARange() async throws {
        let services = try await makeServices { $0.symbols = ["MSFT"] }
        let bars = DemoData.bars(symbol: "MSFT", days: 40)
        try await services.store.upsert(bars.reversed(), symbol: "MSFT")
        try await application(services).test(.router) { client in
            let all = try await client.execute(uri: "/api/v1/bars/MSFT", method: .get)
            let rows = try #require(try json(all.body)["bars"] as? [[String: Any]])
            #expect(rows.count == 40)
            #expect(rows.map { $0["date"] as! String } == bars.map(\.date))
            #expect(rows[0]["close"] as? Double == bars[0].close)
            let from = bars[10].date
            let to = bars[19].date
            let ranged = try await client.execute(uri: "/api/v1/bars/MSFT?from=\(from)&to=\(to)", method: .get)
            #expect((try json(ranged.body)["bars"] as? [[String: Any]])?.count == 10)
            let bad = try await client.execute(uri: "/api/v1/bars/MSFT?from=2024-13-01", method: .get)
            #expect(bad.status == .badRequest)
            let missing = try await client.execute(uri: "/api/v1/bars/NOPE", method: .get)
            #expect(missing.status == .notFound)
        }
    }

    @Test func adminRoutesNeedTheTokenWhenOneIsSet() async throws {
        let services = try await makeServices { $0.adminToken = "s3cret" }
        try await application(services).test(.router) { client in
            let canary = ByteBuffer(string: #"{"seq": 1, "writtenAt": "2026-11-29T10:00:00Z"}"#)
            let none = try await client.execute(uri: "/api/v1/admin/drill/canary", method: .post, body: canary)
            #expect(none.status == .unauthorized)
            let wrong = try await client.execute(
                uri: "/api/v1/admin/drill/canary",
                method: .post,
                headers: [.authorization: "Bearer s3creT"],
                body: canary
            )
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(
                uri: "/api/v1/admin/drill/canary",
                method: .post,
                headers: [.authorization: "Bearer s3cret"],
                body: canary
            )
            #expect(right.status == .created)
            // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
            let lower = try await client.execute(
                uri: "/api/v1/admin/drill/canary?from=0",
                method: .get,
                headers: [.authorization: "bearer s3cret"]
            )
            #expect(lower.status == .ok)
            let read = try await client.execute(uri: "/api/v1/admin/drill/canary?from=0", method: .get)
            #expect(read.status == .unauthorized)
        }
    }

    @Test func canaryWritesAreIdempotentBoundedAndSurviveAReopen() async throws {
        let services = try await makeServices()
        try await application(services).test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for seq in [1, 2, 2, 3] {
                let r = try await client.execute(
                    uri: "/api/v1/admin/drill/canary",
                    method: .post,
                    body: ByteBuffer(string: #"{"seq": \#(seq), "writtenAt": "t\#(seq)-\#(statuses.count)"}"#)
                )
                statuses.append(r.status)
            }
            #expect(statuses == [.created, .created, .ok, .created])
            let huge = ByteBuffer(
                string: #"{"seq": 9, "writtenAt": ""# + String(repeating: "x", count: 70_000) + #""}"#
            )
            let tooBig = try await client.execute(uri: "/api/v1/admin/drill/canary", method: .post, body: huge)
            #expect(tooBig.status == .contentTooLarge)
            let garbage = try await client.execute(
                uri: "/api/v1/admin/drill/canary",
                method: .post,
                body: ByteBuffer(string: "{")
            )
            #expect(garbage.status == .badRequest)
            let read = try await client.execute(uri: "/api/v1/admin/drill/canary?from=2", method: .get)
            let rows = try #require(try json(read.body)["canary"] as? [[String: Any]])
            #expect(rows.map { $0["seq"] as! Int } == [2, 3])
            #expect(rows.first?["writtenAt"] as? String == "t2-1", "the first write of a seq is kept")
        }
        let reopened = try MarketStore(path: try #require(services.store.path))
        #expect(try await reopened.canary(from: 0).map(\.seq) == [1, 2, 3])
    }

    @Test func livenessAndReadiness() async throws {
        let services = try await makeServices()
        try await application(services).test(.router) { client in
            #expect(try await client.execute(uri: "/livez", method: .get).status == .ok)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == #"{"status":"ready"}"#)
        }
    }

    @Test func fiftyConcurrentMissesComputeOnce() async throws {
        let cache = FeatureCache(capacity: 10, ttl: .seconds(60))
        let key = FeatureCache.Key(symbol: "AAPL", newestBar: "2026-11-27")
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await cache.value(for: key) {
                        try await Task.sleep(for: .milliseconds(50))
                        return ByteBuffer(string: "features")
                    }.hit
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 50)
        #expect(await cache.computations == 1)
    }

    @Test func theCacheEvictsTheLeastRecentlyUsedAndExpires() async throws {
        let clock = TestClock()
        let cache = FeatureCache(capacity: 2, ttl: .seconds(10), now: { clock.now })
        let compute: @Sendable () async throws -> ByteBuffer = { ByteBuffer(string: "x") }
        let a = FeatureCache.Key(symbol: "A", newestBar: "1")
        let b = FeatureCache.Key(symbol: "B", newestBar: "1")
        let c = FeatureCache.Key(symbol: "C", newestBar: "1")
        _ = try await cache.value(for: a, compute: compute)
        _ = try await cache.value(for: b, compute: compute)
        #expect(try await cache.value(for: a, compute: compute).hit)
        _ = try await cache.value(for: c, compute: compute)  // evicts b, the least recently used
        #expect(try await cache.value(for: a, compute: compute).hit)
        #expect(!(try await cache.value(for: b, compute: compute).hit))
        clock.advance(by: .seconds(11))
        #expect(!(try await cache.value(for: a, compute: compute).hit), "expired after the TTL")
    }

    @Test func migrationsApplyToAnEmptyDatabaseAndAreIdempotent() async throws {
        let path = temporaryDatabase()
        let first = try MarketStore(path: path)
        #expect(await first.isReady())
        try await first.upsert(DemoData.bars(symbol: "AAPL", days: 5), symbol: "AAPL")
        let second = try MarketStore(path: path)
        #expect(await second.isReady())
        #expect(try await second.bars("AAPL").count == 5)
        let newest = try await first.newestBar("AAPL")
        #expect(try await second.newestBar("AAPL") == newest)
    }

    @Test func oneEndToEndRequestOverALivePort() async throws {
        let services = try await makeServices { $0.symbols = ["NVDA"] }
        try await services.store.upsert(DemoData.bars(symbol: "NVDA", days: 60), symbol: "NVDA")
        try await application(services).test(.live) { client in
            #expect(client.port != nil)
            let r = try await client.execute(uri: "/api/v1/features/quant/NVDA", method: .get)
            #expect(r.status == .ok)
            #expect(r.headers[HTTPField.Name("X-Cache")!] == "MISS")
            #expect(r.headers[.contentType] == "application/json; charset=utf-8")
        }
    }
}

/// A manual clock for cache TTL tests.
final class TestClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = NIOLockedValueBox<Duration>(.zero)
    var now: ContinuousClock.Instant { base + offset.withLockedValue { $0 } }
    func advance(by d: Duration) { offset.withLockedValue { $0 += d } }
}
