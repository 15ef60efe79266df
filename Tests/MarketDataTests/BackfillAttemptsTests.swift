import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import Prometheus
import Testing

@testable import MarketData

/// Every provider attempt is recorded with what came back and the wait chosen; health and `/metrics` sum them up.
@Suite struct BackfillAttemptsTests {
    static let today = TradingCalendar.Day("2026-11-06")!

    /// A scheduler over one symbol and the week before `today`, against a scripted provider, with waits recorded
    /// instead of slept (`onSleep` runs inside each backoff wait).
    static func scheduler(
        _ provider: ScriptedProvider,
        store: MarketStore,
        metrics: APIMetrics? = nil,
        maxAttempts: Int = 4,
        onSleep: @escaping @Sendable (Duration) async -> Void = { _ in }
    ) -> AutoBackfillScheduler {
        var logger = Logger(label: "attempts")
        logger.logLevel = .critical
        let client = ProviderClient(
            transport: provider,
            limiter: RateLimiter(limit: nil, window: nil, sleep: { _ in }),
            policy: BackoffPolicy(base: .milliseconds(100), cap: .seconds(1), maxAttempts: maxAttempts),
            random: SharedRandom(seed: 11),
            sleep: { await onSleep($0) },
            logger: logger
        )
        var configuration = BackfillConfiguration(symbols: ["AAA"])
        configuration.lookbackDays = 4
        return AutoBackfillScheduler(
            store: store,
            client: client,
            configuration: configuration,
            metrics: metrics,
            logger: logger,
            today: { Self.today }
        )
    }

    @Test func everyAttemptIsRecordedWithTheWaitChosenAndRetryAfterSeen() async throws {
        let provider = ScriptedProvider { _, n in
            switch n {
            case 0: (503, [], "")
            case 1: (429, [("Retry-After", "2")], "")
            default: (200, [], ProviderLiesTests.goodPage)
            }
        }
        let store = try MarketStore(path: temporaryDatabase())
        let metrics = APIMetrics()
        let waits = NIOLockedValueBox<[Duration]>([])
        let retryAts = NIOLockedValueBox<[String?]>([])
        let s = Self.scheduler(provider, store: store, metrics: metrics) { wait in
            waits.withLockedValue { $0.append(wait) }
            // While the scheduler waits, the symbol's status already says when it tries again.
            let status = try? await store.symbolStatuses().first { $0.symbol == "AAA" }
            retryAts.withLockedValue { $0.append(status?.nextRetryAt) }
        }
        let run = try #require(try await s.runOnce())
        #expect(run.run.status == "ok")
        #expect(run.outcomes[0].requests == 3)

        let attempts = try await store.attempts(symbol: "AAA").reversed().map { $0 }
        #expect(attempts.map(\.outcome) == ["retry", "retry", "ok"])
        #expect(attempts.map(\.attempt) == [1, 2, 3])
        #expect(attempts.map(\.httpStatus) == [503, 429, 200])
        #expect(attempts.allSatisfy { $0.endpoint == "/v2/aggs/ticker/AAA/range/1/day/2026-11-02/2026-11-06" })
        let recorded = waits.withLockedValue { $0 }
        #expect(recorded.count == 2)
        #expect(attempts[0].waitSeconds == recorded[0].seconds)
        #expect(attempts[1].waitSeconds == recorded[1].seconds)
        #expect(recorded[0] <= .milliseconds(100), "first backoff: full jitter under the base")
        #expect(attempts[1].retryAfter == 2)
        #expect(try #require(attempts[1].waitSeconds) >= 2, "the wait is at least Retry-After")
        #expect(attempts[2].waitSeconds == nil)

        // next_retry_at = the failed attempt's time + its wait, written before the wait began.
        let retryAt = retryAts.withLockedValue { $0 }
        #expect(retryAt.count == 2)
        for (i, text) in retryAt.enumerated() {
            let at = try #require(text.flatMap(MarketStore.date))
            let failedAt = try #require(MarketStore.date(attempts[i].at))
            #expect(abs(at.timeIntervalSince(failedAt) - recorded[i].seconds) < 0.01)
        }
        // The success clears it.
        #expect(try await store.symbolStatuses().first?.nextRetryAt == nil)

        let health = await s.health()
        #expect(health.lastHour.attempts == 3)
        #expect(health.lastHour.retries == 2)
        #expect(health.lastHour.rateLimited == 1)
        #expect(health.lastHour.failed == 2)
        #expect(health.lastHour.gaveUp == 0)
        #expect(abs(health.lastHour.backoffWaitSeconds - recorded.reduce(0) { $0 + $1.seconds }) < 1e-6)
        #expect(health.lastHour.maxRetryAfterSeconds == 2)
        #expect(health.backoff.baseSeconds == 0.1 && health.backoff.capSeconds == 1 && health.backoff.maxAttempts == 4)

        let exposition = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(exposition.contains(#"backfill_attempts_total{outcome="retry"} 2"#))
        #expect(exposition.contains(#"backfill_attempts_total{outcome="ok"} 1"#))
        #expect(exposition.contains("backfill_backoff_wait_seconds_total"))
    }

    @Test func aSymbolThatRunsOutOfAttemptsIsRecordedAsGivenUp() async throws {
        let provider = ScriptedProvider { _, _ in (503, [], "") }
        let store = try MarketStore(path: temporaryDatabase())
        let s = Self.scheduler(provider, store: store, maxAttempts: 2)
        let run = try #require(try await s.runOnce())
        #expect(run.run.status == "failed")
        // What a failed fetch spent is counted too.
        #expect(run.outcomes[0].requests == 2)
        #expect(run.run.requests == 2)
        let attempts = try await store.attempts().reversed().map(\.outcome)
        #expect(attempts == ["retry", "gave_up"])
        let status = try #require(try await store.symbolStatuses().first)
        #expect(status.lastError == "gave up after 2 attempts (last: HTTP 503)")
        #expect(status.nextRetryAt != nil, "the next periodic run")
        let health = await s.health()
        #expect(health.status == "failing")
        #expect(health.reasons.contains { $0.contains("failed for all 1 symbols") })
        #expect(health.lastHour.gaveUp == 1)
    }

    @Test func attemptsOlderThanTheRetentionArePruned() async throws {
        let store = try MarketStore(path: temporaryDatabase())
        var old = ProviderAttempt(symbol: "AAA", endpoint: "/x", attempt: 1)
        old.at = Date().addingTimeInterval(-MarketStore.attemptRetention - 60)
        try await store.recordAttempt(old)
        try await store.recordAttempt(ProviderAttempt(symbol: "AAA", endpoint: "/x", attempt: 1))
        #expect(try await store.attemptSummary(since: .distantPast).attempts == 2)
        #expect(try await store.attemptSummary(since: Date().addingTimeInterval(-3600)).attempts == 1)
        try await store.pruneAttempts(before: Date().addingTimeInterval(-MarketStore.attemptRetention))
        #expect(try await store.attempts().count == 1)
    }

    typealias Lag = AutoBackfillScheduler.Health.SymbolLag

    static func run(_ status: String, failed: Int = 0) -> MarketStore.RunRow {
        MarketStore.RunRow(
            id: 7,
            startedAt: "",
            finishedAt: "",
            status: status,
            symbolsTotal: 4,
            symbolsOk: 4 - failed,
            symbolsFailed: failed,
            requests: 0,
            barsWritten: 0,
            rateLimitHits: 0
        )
    }

    @Test func healthNamesEveryReasonItIsNotOk() {
        let fresh = [Lag(symbol: "A", newestBar: "2026-11-06", lagTradingDays: 0)]
        let judge = AutoBackfillScheduler.judge
        #expect(judge(.idle, Self.run("ok"), 0, nil, fresh) == ("ok", []))

        let lagging = fresh + [Lag(symbol: "B", newestBar: nil, lagTradingDays: 80)]
        let degraded = judge(.idle, Self.run("partial", failed: 1), 1, nil, lagging)
        #expect(degraded.status == "degraded")
        #expect(
            degraded.reasons == [
                "the last run (#7) failed for 1 of 4 symbols",
                "1 of 2 symbols lag more than 1 trading day (worst: B, 80 days)",
            ]
        )

        let paused = judge(.paused, Self.run("failed", failed: 4), 3, Date().addingTimeInterval(600), fresh)
        #expect(paused.status == "failing")
        #expect(paused.reasons.count == 3)
        #expect(paused.reasons[0].hasPrefix("the provider refused us (401/403); paused until "))
        #expect(paused.reasons[1] == "the last run (#7) failed for all 4 symbols")
        #expect(paused.reasons[2] == "3 runs in a row did not complete")
    }
}
