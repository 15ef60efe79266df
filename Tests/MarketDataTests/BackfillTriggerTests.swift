import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import MarketData

extension MarketDataSerial {
    /// `POST /api/v1/admin/backfill` reserves a run and answers its id; `GET backfill/runs/{id}` follows it to its
    /// end (#27: the journey the reference API ships).
    @Suite struct BackfillTriggerTests {
        let helpers = BackfillSchedulerTests()

        /// Polls the run until it has finished; bounded in count.
        func finished(_ id: Int64, _ store: MarketStore) async throws -> MarketStore.RunRow {
            for _ in 0..<3000 {
                if let run = try await store.run(id), MarketStore.finishedRunStatuses.contains(run.status) {
                    return run
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw StoreLocationError("run \(id) did not finish")
        }

        @Test func triggersCoalesceIntoOneQueuedRunWhichTheSchedulerLoopRunsAndReports() async throws {
            let (sim, state) = helpers.simulatorApp { $0.latency = .fixed(.milliseconds(1)) }
            try await sim.test(.live) { simClient in
                var services = try await makeServices { $0.symbols = ["AAPL", "MSFT"] }
                let s = helpers.scheduler(
                    port: try #require(simClient.port),
                    store: services.store,
                    symbols: ["AAPL", "MSFT"]
                )
                services.scheduler = s
                let store = services.store
                try await application(services).test(.router) { client in
                    // Before the loop runs: the first trigger reserves a queued run, later ones get the same id,
                    // also when they arrive while the reservation is being written.
                    let post = try await client.execute(uri: "/api/v1/admin/backfill", method: .post)
                    #expect(post.status == .accepted)
                    let body = try json(post.body)
                    let id = try #require((body["runId"] as? Int).map(Int64.init))
                    #expect(body["status"] as? String == "queued")
                    #expect(post.headers[.location] == "/api/v1/admin/backfill/runs/\(id)")
                    let queued = try json(
                        try await client.execute(uri: "/api/v1/admin/backfill/runs/\(id)", method: .get).body
                    )
                    #expect(queued["status"] as? String == "queued")
                    #expect(queued["finished"] as? Bool == false)
                    #expect((queued["symbols"] as? [Any])?.isEmpty == true)
                    let again = try await withThrowingTaskGroup(of: Int64.self) { group in
                        for _ in 0..<5 { group.addTask { try await s.trigger() } }
                        return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
                    }
                    #expect(again == [id])
                    #expect(try await store.runs(limit: 10).count == 1)

                    // The loop's first run is the queued one; it ends with each symbol's row.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await s.run() }
                        let run = try await finished(id, store)
                        #expect(run.status == "ok")
                        let answer = try json(
                            try await client.execute(uri: "/api/v1/admin/backfill/runs/\(id)", method: .get).body
                        )
                        #expect(answer["finished"] as? Bool == true)
                        #expect(answer["status"] as? String == "ok")
                        #expect(answer["symbolsOk"] as? Int == 2)
                        let symbols = try #require(answer["symbols"] as? [[String: Any]])
                        #expect(symbols.map { $0["symbol"] as? String } == ["AAPL", "MSFT"])
                        for row in symbols {
                            let symbol = try #require(row["symbol"] as? String)
                            #expect(row["state"] as? String == "done")
                            #expect((row["barsWritten"] as? Int ?? 0) > 0)
                            #expect(row["newestBar"] as? String == (await helpers.expected(state, symbol)).last?.date)
                            #expect(row["error"] == nil)
                        }
                        // Triggered again once idle: a new run, after the first.
                        let next = try await s.trigger()
                        #expect(next > id)
                        #expect(try await finished(next, store).status == "ok")
                        group.cancelAll()
                    }
                    #expect(
                        try await client.execute(uri: "/api/v1/admin/backfill/runs/999", method: .get).status
                            == .notFound
                    )
                    #expect(
                        try await client.execute(uri: "/api/v1/admin/backfill/runs/abc", method: .get).status
                            == .badRequest
                    )
                }
            }
        }

        @Test func aTriggerDuringARunQueuesTheNextOneAndAShutdownEndsAQueuedRunAsInterrupted() async throws {
            let (sim, state) = helpers.simulatorApp { $0.latency = .fixed(.milliseconds(30)) }
            try await sim.test(.live) { simClient in
                let store = try MarketStore(path: temporaryDatabase())
                let s = helpers.scheduler(
                    port: try #require(simClient.port),
                    store: store,
                    symbols: ["AAA", "BBB", "CCC", "DDD"],
                    parallel: false
                )
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await s.run() }
                    // The loop's own first run is under way (the provider has answered).
                    for _ in 0..<2000 where await state.requests == 0 {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    let first = try #require(try await store.runs(limit: 1).first)
                    #expect(first.status == "running")
                    let id = try await s.trigger()
                    #expect(id > first.id, "a run in progress is not reused: the one asked for starts after now")
                    #expect(try await store.run(id)?.status == "queued")
                    group.cancelAll()  // what a graceful shutdown does to the scheduler's task
                }
                let runs = try await store.runs(limit: 10)
                #expect(runs.count == 2)
                #expect(runs.allSatisfy { $0.status == "interrupted" && $0.finishedAt != nil })
            }
        }

        @Test func aTriggerWhileTheProviderIsPausedEndsAsPausedInsteadOfWaiting() async throws {
            let (sim, _) = helpers.simulatorApp { $0.apiKey = "secret" }
            try await sim.test(.live) { simClient in
                let store = try MarketStore(path: temporaryDatabase())
                let s = helpers.scheduler(port: try #require(simClient.port), store: store, symbols: ["AAPL"])
                // 401: the provider refused us, and the scheduler pauses it.
                let refused = try #require(try await s.runOnce())
                #expect(refused.run.status == "failed")
                let id = try await s.trigger()
                #expect(try await s.runOnce().map(\.run) == nil)
                let run = try #require(try await store.run(id))
                #expect(run.status == "paused")
                #expect(run.finishedAt != nil)
                #expect(try await store.runSymbols(id).isEmpty)
                #expect(try await store.runSymbols(refused.run.id).first?.state == "provider_refused")
            }
        }
    }
}
