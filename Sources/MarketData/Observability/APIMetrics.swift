import Foundation
import HTTPTypes
import Hummingbird
import Prometheus

/// The API's Prometheus metrics, in a registry passed in (never a global), rendered by `GET /metrics`.
public struct APIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) { self.registry = registry }

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
    ]

    /// Requests being handled now (`http_requests_in_flight`): a queue building up in the server shows here
    /// before it shows in the client's latency.
    var inFlight: Gauge {
        registry.makeGauge(
            descriptor: .init(
                metricName: "http_requests_in",
                unitName: "flight",
                helpText: "Requests being handled now"
            ),
            labels: []
        )
    }

    /// One answered request, labelled by route template (bounded cardinality), method and status.
    func request(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: .init(
                metricName: "http_requests",
                unitName: "total",
                helpText: "Requests by route, method and status"
            ),
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: .init(
                metricName: "http_request_duration",
                unitName: "seconds",
                helpText: "Request latency by route"
            ),
            labels: [("route", route)],
            buckets: Self.latencyBuckets
        ).record(duration)
    }

    func cache(hit: Bool) { cacheRequests(hit ? "hit" : "miss").increment() }

    func cacheRequests(_ result: String) -> Counter {
        registry.makeCounter(
            descriptor: .init(
                metricName: "feature_cache_requests",
                unitName: "total",
                helpText: "Feature cache lookups"
            ),
            labels: [("result", result)]
        )
    }

    func database(_ query: String, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "db_query_duration", unitName: "seconds", helpText: "Database time by query"),
            labels: [("query", query)],
            buckets: Self.latencyBuckets
        ).record(duration)
    }

    func featureComputation(duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: .init(
                metricName: "feature_computation_duration",
                unitName: "seconds",
                helpText: "Computing one symbol's features"
            ),
            labels: [],
            buckets: Self.latencyBuckets
        ).record(duration)
    }
}

extension APIMetrics {
    /// Every counter and gauge the API exports, created at 0 before the first request (Prometheus's advice: a
    /// series that appears only once non-zero breaks `rate()` and absence alerts). The scheduler's series only with
    /// a scheduler: without one, `backfill_*` is absent, so a gate on it has no data instead of a false 0.
    func exportAtZero(scheduler: Bool) {
        _ = inFlight
        for result in ["hit", "miss"] { _ = cacheRequests(result) }
        guard scheduler else { return }
        consecutiveFailures.set(Double(0))
        for status in ["ok", "partial", "failed", "interrupted"] { _ = runs(status) }
        _ = barsWritten
        symbolsInFlight(0)
        for outcome in ProviderAttempt.Outcome.allCases { _ = attempts(outcome) }
        _ = backoffWait
        _ = limiterWait
        _ = rateLimited
    }

    var consecutiveFailures: Gauge {
        registry.makeGauge(
            descriptor: .init(
                metricName: "backfill_consecutive",
                unitName: "failures",
                helpText: "Backfill runs in a row that did not complete"
            ),
            labels: []
        )
    }

    func runs(_ status: String) -> Counter {
        registry.makeCounter(
            descriptor: .init(metricName: "backfill_runs", unitName: "total", helpText: "Backfill runs by status"),
            labels: [("status", status)]
        )
    }

    var barsWritten: Counter {
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_bars_written",
                unitName: "total",
                helpText: "Bars written by backfills"
            ),
            labels: []
        )
    }

    func attempts(_ outcome: ProviderAttempt.Outcome) -> Counter {
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_attempts",
                unitName: "total",
                helpText: "Provider attempts by outcome (ok, retry, gave_up, unknown_symbol, refused, rejected, budget)"
            ),
            labels: [("outcome", outcome.rawValue)]
        )
    }

    var backoffWait: Counter {
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_backoff_wait_seconds",
                unitName: "total",
                helpText: "Backoff waits chosen between provider attempts"
            ),
            labels: []
        )
    }

    var limiterWait: Counter {
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_rate_limiter_wait_seconds",
                unitName: "total",
                helpText: "Waits on the learned provider rate limit before sending"
            ),
            labels: []
        )
    }

    var rateLimited: Counter {
        registry.makeCounter(
            descriptor: .init(metricName: "provider_rate_limited", unitName: "total", helpText: "Provider 429 answers"),
            labels: []
        )
    }

    func backfillRun(status: String, barsWritten written: Int, success: Bool, consecutiveFailures failures: Int) {
        consecutiveFailures.set(Double(failures))
        runs(status).increment()
        barsWritten.increment(by: Int64(written))
        if success {
            registry.makeGauge(
                descriptor: .init(
                    metricName: "backfill_last_success_timestamp",
                    unitName: "seconds",
                    helpText: "When the last fully successful backfill run finished"
                ),
                labels: []
            ).set(Date().timeIntervalSince1970)
        }
    }

    func symbolsInFlight(_ n: Int) {
        registry.makeGauge(
            descriptor: .init(
                metricName: "backfill_symbols_in",
                unitName: "flight",
                helpText: "Symbols being backfilled now"
            ),
            labels: []
        ).set(Double(n))
    }

    /// One provider attempt by outcome, and the waits it caused.
    func providerAttempt(_ a: ProviderAttempt) {
        attempts(a.outcome).increment()
        if let wait = a.waitSeconds { backoffWait.increment(by: wait) }
        limiterWait.increment(by: a.limiterWaitSeconds)
    }

    /// A provider answer by status code (`timeout` when none came).
    func providerResponse(_ status: Int?) {
        registry.makeCounter(
            descriptor: .init(
                metricName: "provider_requests",
                unitName: "total",
                helpText: "Provider requests by status code"
            ),
            labels: [("code", status.map(String.init) ?? "timeout")]
        ).increment()
        if status == 429 { rateLimited.increment() }
    }
}
