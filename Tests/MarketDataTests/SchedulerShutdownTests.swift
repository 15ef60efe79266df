import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import MarketData

extension MarketDataSerial {
    /// A shutdown is the scheduler's normal end (#32, item 3), and the admin endpoints tell what is missing now.
    @Suite struct SchedulerShutdownTests {
        let helpers = BackfillSchedulerTests()

        @Test func aRunCutShortByAShutdownIsRecordedAsInterruptedAndIsNoFailure() async throws {
            let (app, state) = helpers.simulatorApp { $0.latency = .fixed(.milliseconds(20)) }
            let store = try MarketStore(path: temporaryDatabase())
            try await app.test(.live) { client in
                let s = helpers.scheduler(
                    port: try #require(client.port),
                    store: store,
                    symbols: ["AAA", "BBB", "CCC", "DDD", "EEE"],
                    parallel: false
                )
                let before = await state.requests
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { _ = try? await s.runOnce() }
                    for _ in 0..<1000 where await state.requests - before < 3 {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    group.cancelAll()  // what a graceful shutdown does to the scheduler's task
                }
                let run = try #require(try await store.runs(limit: 1).first)
                #expect(run.status == "interrupted")
                #expect(run.finishedAt != nil, "the run's row is finished although its task was cancelled")
                let health = await s.health()
                #expect(health.consecutiveFailures == 0)
                #expect(health.state == .idle)
            }
        }

        @Test func openGapsCountBarsDeletedSinceTheLastRun() async throws {
            let (app, _) = helpers.simulatorApp { $0.latency = .fixed(.milliseconds(1)) }
            let path = temporaryDatabase()
            let store = try MarketStore(path: path)
            try await store.addSymbols(["AAA"])
            try await app.test(.live) { client in
                let s = helpers.scheduler(port: try #require(client.port), store: store, symbols: ["AAA"])
                _ = try await s.runOnce()
                let services = MarketDataServices(
                    store: store,
                    configuration: MarketDataConfiguration(databasePath: path),
                    scheduler: s
                )
                func openGaps() async throws -> Int {
                    try await application(services).test(.router) { client in
                        let body = try json(
                            try await client.execute(uri: "/api/v1/admin/backfill/symbols", method: .get).body
                        )
                        let rows = try #require(body["symbols"] as? [[String: Any]])
                        return try #require(rows.first { $0["symbol"] as? String == "AAA" }?["openGaps"] as? Int)
                    }
                }
                let before = try await openGaps()
                let db = try DatabaseQueue(path: path)
                try await db.write { db in
                    try db.execute(
                        sql: """
                            DELETE FROM bars WHERE symbol = 'AAA' AND ts IN
                            (SELECT ts FROM bars WHERE symbol = 'AAA' ORDER BY ts DESC LIMIT 16)
                            """
                    )
                }
                #expect(try await openGaps() == before + 16)
            }
        }
    }
}
