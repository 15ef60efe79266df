import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import MarketData

struct BackfillJobTests {
    typealias Day = TradingCalendar.Day

    @Test func gapsBecomeChunksNewestFirst() {
        let from = Day("2024-01-01")!
        let to = Day("2024-03-29")!
        let all = TradingCalendar().tradingDays(from: from, to: to).map(\.description)
        let stored = Set(all[10..<20] + all[40..<all.count - 5])
        let chunks = BackfillPlanner.chunks(stored: stored, from: from, to: to, chunkDays: 8)
        #expect(chunks.first?.to.description == all.last, "newest first")
        #expect(chunks.reduce(0) { $0 + $1.days } == all.count - stored.count)
        #expect(chunks.allSatisfy { $0.days <= 8 })
        let covered = Set(
            chunks.flatMap { c in TradingCalendar().tradingDays(from: c.from, to: c.to).map(\.description) }
        )
        #expect(covered.isDisjoint(with: stored))
        #expect(BackfillPlanner.chunks(stored: Set(all), from: from, to: to, chunkDays: 8).isEmpty)
    }

    @Test func aJobWalksItsChunksAndStopsOnAFailure() {
        let chunks = [
            BackfillChunk(from: Day("2024-03-01")!, to: Day("2024-03-08")!, days: 6),
            BackfillChunk(from: Day("2024-02-01")!, to: Day("2024-02-09")!, days: 7),
        ]
        var job = BackfillJob(symbol: "AAPL", chunks: chunks)
        #expect(job.start() == .fetch(chunks[0]))
        #expect(job.fetched(bars: 5) == .store(chunks[0]))
        #expect(job.openGaps == 1)
        #expect(job.stored() == .fetch(chunks[1]))
        #expect(job.failed(.exhausted(lastStatus: 503, attempts: 5)) == .finish(job.state))
        #expect(job.state == .failed("gave up after 5 attempts (last: HTTP 503)"))
        var unknown = BackfillJob(symbol: "ZZZ", chunks: chunks)
        _ = unknown.start()
        #expect(unknown.failed(.unknownSymbol) == .finish(.unknownSymbol))
        var empty = BackfillJob(symbol: "A", chunks: [])
        #expect(empty.start() == .finish(.done))
    }
}

/// The scheduler against the provider simulator on a loopback port.
extension MarketDataSerial {
    @Suite struct BackfillSchedulerTests {
        static let today = TradingCalendar.Day("2026-11-27")!

        func scheduler(
            port: Int,
            store: MarketStore,
            symbols: [String],
            parallel: Bool = true,
            seed: UInt64 = 7
        ) -> AutoBackfillScheduler {
            var logger = Logger(label: "backfill-test")
            logger.logLevel = .critical
            let limiter = RateLimiter(limit: nil, window: .seconds(1))
            let client = ProviderClient(
                transport: HTTPProviderTransport(baseURL: "http://127.0.0.1:\(port)"),
                limiter: limiter,
                policy: BackoffPolicy(base: .milliseconds(10), cap: .milliseconds(200), maxAttempts: 8),
                timeout: .seconds(5),
                random: SharedRandom(seed: seed),
                onRateLimit: { event in try? await store.recordRateLimit(event) },
                logger: logger
            )
            var configuration = BackfillConfiguration(symbols: symbols)
            configuration.parallel = parallel
            configuration.chunkDays = 100
            return AutoBackfillScheduler(
                store: store,
                client: client,
                configuration: configuration,
                logger: logger,
                today: { Self.today }
            )
        }

        func simulatorApp(
            _ configure: (inout ProviderSimulatorConfiguration) -> Void
        ) -> (
            some ApplicationProtocol, ProviderSimulatorState
        ) {
            simulator {
                $0.rateLimit = (50, .seconds(1))
                $0.limitHeadersOnlyOn429 = true
                $0.maxBarsPerResponse = 120
                configure(&$0)
            }
        }

        /// The bars the simulator serves for `symbol` over the scheduler's lookback.
        func expected(_ state: ProviderSimulatorState, _ symbol: String) async -> [Bar] {
            await state.bars(symbol, from: Self.today.adding(days: -730), to: Self.today)
        }

        /// On both storage engines: the scheduler's writes (bars, runs, statuses, rate-limit events, attempts) are
        /// the same SQL contract on SQLite and PostgreSQL.
        @Test(arguments: Engine.available)
        func tenSymbolsAreBackfilledExactlyOnceWithinTheLimit(engine: Engine) async throws {
            let symbols = (0..<10).map { "SYM\($0)" }
            let (app, state) = simulatorApp { $0.errorRate = 0.05 }
            var faults = ProviderFaults()
            faults.impossibleRate = 0.05
            await state.setFaults(faults)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                try await engine.withFreshStore { store in
                    let s = scheduler(port: port, store: store, symbols: symbols)
                    let first = try #require(try await s.runOnce())
                    #expect(first.run.symbolsTotal == 10)
                    // Each symbol's row of the run, with its newest bar read in the run's last transaction.
                    let rows = try await store.runSymbols(first.run.id)
                    #expect(rows.map(\.symbol) == symbols)
                    #expect(rows.allSatisfy { $0.state == "done" && $0.newestBar != nil })
                    #expect(await s.maxInFlight <= 3)
                    #expect(await state.maxSymbolsInFlight <= 3)
                    // No impossible bar was stored; the days they stood for are open gaps, filled by the next run.
                    await state.setFaults(ProviderFaults())
                    _ = try await s.runOnce()
                    for symbol in symbols {
                        let stored = try await store.bars(symbol)
                        #expect(stored == (await expected(state, symbol)), "\(symbol)")
                        #expect(Set(stored.map(\.date)).count == stored.count, "each day once")
                        #expect(
                            stored.allSatisfy { ProviderClient.impossibility($0, calendar: TradingCalendar()) == nil }
                        )
                    }
                    // Every 429 the provider sent is recorded; once the limit was learned, none followed.
                    let limited = await state.rateLimited
                    let events = try await store.rateLimitEvents(limit: 1000)
                    #expect(events.count == limited)
                    #expect(
                        limited <= 3,
                        "at most one 429 per symbol in flight before the limit was learned, got \(limited)"
                    )
                    let health = await s.health()
                    #expect(health.status == "ok")
                    #expect(health.symbols.allSatisfy { $0.lagTradingDays == 0 })
                    #expect(health.lastRun?.status == "ok")
                    #expect(try await store.runs(limit: 10).map(\.status) == ["ok", "ok"])
                    #expect(try await store.symbolStatuses().map(\.symbol) == symbols)
                    let attempts = try await store.attemptSummary(since: .distantPast)
                    #expect(attempts.attempts >= first.run.requests)
                }
            }
        }

        @Test func aResumedRunFetchesOnlyWhatIsMissing() async throws {
            let symbols = ["AAA", "BBB", "CCC"]
            let (app, state) = simulatorApp { $0.latency = .fixed(.milliseconds(5)) }
            let clean = try MarketStore(path: temporaryDatabase())
            let resumed = try MarketStore(path: temporaryDatabase())
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let before = await state.requests
                _ = try await scheduler(port: port, store: clean, symbols: symbols).runOnce()
                let cleanRequests = await state.requests - before
                // Interrupt a run part-way, then run again to completion.
                let interrupted = scheduler(port: port, store: resumed, symbols: symbols, parallel: false)
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { _ = try? await interrupted.runOnce() }
                    while await state.requests - before < cleanRequests + 3 {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    group.cancelAll()
                }
                let stored = try await resumed.bars("AAA").count
                #expect(stored > 0)
                let mark = await state.requests
                _ = try await scheduler(port: port, store: resumed, symbols: symbols).runOnce()
                #expect(await state.requests - mark < cleanRequests, "stored chunks are not fetched again")
                for symbol in symbols {
                    #expect(try await resumed.bars(symbol) == (try await clean.bars(symbol)))
                }
            }
        }

        @Test func healthWhileRunningShowsSymbolsInFlight() async throws {
            let (app, _) = simulatorApp { $0.latency = .fixed(.milliseconds(40)) }
            let store = try MarketStore(path: temporaryDatabase())
            try await app.test(.live) { client in
                let s = scheduler(
                    port: try #require(client.port),
                    store: store,
                    symbols: ["A1", "A2", "A3", "A4", "A5"]
                )
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { _ = try await s.runOnce() }
                    var seen: AutoBackfillScheduler.Health?
                    for _ in 0..<400 {
                        let h = await s.health()
                        if h.state == .running && h.symbolsInFlight > 0 {
                            seen = h
                            break
                        }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    let running = try #require(seen)
                    #expect(running.symbolsInFlight <= running.maxConcurrentSymbols)
                    #expect(try await s.runOnce() == nil, "runs never overlap")
                    try await group.waitForAll()
                }
                #expect(await s.health().state == .idle)
            }
        }

        @Test func timeoutsAndMalformedBodiesAreRetried() async throws {
            let (app, state) = simulatorApp {
                $0.rateLimit = nil
                $0.hangFor = .seconds(1)
            }
            var faults = ProviderFaults()
            faults.timeoutRate = 0.2
            faults.malformedRate = 0.2
            await state.setFaults(faults)
            let store = try MarketStore(path: temporaryDatabase())
            try await app.test(.live) { client in
                var logger = Logger(label: "timeouts")
                logger.logLevel = .critical
                let port = try #require(client.port)
                let s = AutoBackfillScheduler(
                    store: store,
                    client: ProviderClient(
                        transport: HTTPProviderTransport(baseURL: "http://127.0.0.1:\(port)"),
                        limiter: RateLimiter(limit: nil, window: nil),
                        policy: BackoffPolicy(base: .milliseconds(5), cap: .milliseconds(50), maxAttempts: 12),
                        timeout: .milliseconds(300),
                        random: SharedRandom(seed: 5),
                        logger: logger
                    ),
                    configuration: BackfillConfiguration(symbols: ["TMO"]),
                    logger: logger,
                    today: { Self.today }
                )
                let run = try #require(try await s.runOnce())
                #expect(run.run.status == "ok")
                #expect(try await store.bars("TMO") == (await expected(state, "TMO")))
                #expect(run.outcomes[0].requests > 6, "some requests were retried")
            }
        }

        @Test func aFailingProviderMakesTheHealthFailing() async throws {
            let (app, state) = simulatorApp { $0.rateLimit = nil }
            var faults = ProviderFaults()
            faults.down = true
            await state.setFaults(faults)
            let store = try MarketStore(path: temporaryDatabase())
            try await app.test(.live) { client in
                let s = scheduler(port: try #require(client.port), store: store, symbols: ["AAPL", "MSFT"])
                for _ in 0..<3 { _ = try await s.runOnce() }
                let health = await s.health()
                #expect(health.status == "failing")
                #expect(health.consecutiveFailures == 3)
                #expect(health.lastRun?.status == "failed")
                let statuses = try await store.symbolStatuses()
                #expect(statuses.count == 2)
                #expect(statuses.allSatisfy { $0.lastError?.contains("HTTP 503") == true })
                // A restarted API (a new scheduler on the same database) reports the same health.
                let restarted = await scheduler(
                    port: try #require(client.port),
                    store: store,
                    symbols: ["AAPL", "MSFT"]
                )
                .health()
                #expect(restarted.status == "failing")
                #expect(restarted.consecutiveFailures == 3)
                #expect(restarted.lastRun == health.lastRun)
                #expect(restarted.lastSuccessAt == health.lastSuccessAt)
                // A retryable failure says when the symbol is tried again: the next periodic run (an hour).
                let now = Date()
                for status in statuses {
                    let at = try #require(status.nextRetryAt.flatMap(MarketStore.date))
                    #expect(at > now.addingTimeInterval(3000) && at < now.addingTimeInterval(3700))
                }
            }
        }

        @Test func parallelBackfillIsOffUnlessSwitchedOn() {
            #expect(BackfillConfiguration(symbols: ["A"]).parallel == false)
        }
    }
}

/// Scheduler and simulator tests run one at a time: they time real HTTP on a 2-core machine.
@Suite(.serialized) enum MarketDataSerial {}

extension MarketDataSerial {
    @Suite struct SchedulerEndpointTests {
        @Test func theAdminEndpointsShowTheScheduler() async throws {
            let (sim, _) = simulator { $0.rateLimit = (50, .seconds(1)) }
            try await sim.test(.live) { simClient in
                let port = try #require(simClient.port)
                var services = try await makeServices { $0.symbols = ["AAPL", "MSFT"] }
                var logger = Logger(label: "endpoint-test")
                logger.logLevel = .critical
                let scheduler = AutoBackfillScheduler(
                    store: services.store,
                    client: ProviderClient(
                        transport: HTTPProviderTransport(baseURL: "http://127.0.0.1:\(port)"),
                        limiter: RateLimiter(limit: nil, window: nil),
                        random: SharedRandom(seed: 3),
                        logger: logger
                    ),
                    configuration: BackfillConfiguration(symbols: ["AAPL", "MSFT"]),
                    logger: logger
                )
                services.scheduler = scheduler
                _ = try await scheduler.runOnce()
                try await application(services).test(.router) { client in
                    let health = try json(
                        try await client.execute(uri: "/api/v1/admin/scheduler-health", method: .get).body
                    )
                    #expect(health["status"] as? String == "ok")
                    #expect(health["state"] as? String == "idle")
                    // Sequential by default (SPEC §10): one symbol at a time, and health says so.
                    #expect(health["parallel"] as? Bool == false)
                    #expect(health["maxConcurrentSymbols"] as? Int == 1)
                    #expect((health["symbols"] as? [[String: Any]])?.count == 2)
                    #expect((health["lastRun"] as? [String: Any])?["status"] as? String == "ok")
                    #expect(health["provider"] is [String: Any])
                    let runs = try json(try await client.execute(uri: "/api/v1/admin/backfill/runs", method: .get).body)
                    #expect((runs["runs"] as? [[String: Any]])?.first?["symbolsOk"] as? Int == 2)
                    let symbols = try json(
                        try await client.execute(uri: "/api/v1/admin/backfill/symbols", method: .get).body
                    )
                    #expect(
                        (symbols["symbols"] as? [[String: Any]])?.map { $0["symbol"] as! String } == ["AAPL", "MSFT"]
                    )
                    #expect((health["reasons"] as? [String])?.isEmpty == true)
                    let lastHour = try #require(health["lastHour"] as? [String: Any])
                    #expect((lastHour["attempts"] as? Int ?? 0) >= 2, "one page per symbol at least")
                    #expect((health["backoff"] as? [String: Any])?["maxAttempts"] as? Int == 5)
                    let attempts = try json(
                        try await client.execute(
                            uri: "/api/v1/admin/backfill/attempts?symbol=MSFT&limit=1",
                            method: .get
                        )
                        .body
                    )
                    let newest = try #require((attempts["attempts"] as? [[String: Any]])?.first)
                    #expect(newest["symbol"] as? String == "MSFT")
                    #expect(newest["outcome"] as? String == "ok")
                    #expect(newest["httpStatus"] as? Int == 200)
                    #expect(
                        try await client.execute(uri: "/api/v1/admin/backfill/attempts?limit=0", method: .get).status
                            == .badRequest
                    )
                    let limits = try await client.execute(uri: "/api/v1/admin/rate-limits", method: .get)
                    #expect(limits.status == .ok)
                    let trigger = try await client.execute(uri: "/api/v1/admin/backfill", method: .post)
                    #expect(trigger.status == .accepted)
                }
            }
        }

        @Test func withoutAProviderTheSchedulerEndpointsSaySo() async throws {
            let services = try await makeServices()
            try await application(services).test(.router) { client in
                let r = try await client.execute(uri: "/api/v1/admin/scheduler-health", method: .get)
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains(#""state":"disabled""#))
                #expect(String(buffer: r.body).contains(#""reasons":["no provider is configured"#))
                #expect(
                    try await client.execute(uri: "/api/v1/admin/backfill", method: .post).status == .serviceUnavailable
                )
            }
        }
    }
}
