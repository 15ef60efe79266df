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

    func cache(hit: Bool) {
        registry.makeCounter(
            descriptor: .init(
                metricName: "feature_cache_requests",
                unitName: "total",
                helpText: "Feature cache lookups"
            ),
            labels: [("result", hit ? "hit" : "miss")]
        ).increment()
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
    func backfillRun(status: String, barsWritten: Int, success: Bool, consecutiveFailures: Int) {
        registry.makeGauge(
            descriptor: .init(
                metricName: "backfill_consecutive",
                unitName: "failures",
                helpText: "Backfill runs in a row that did not complete"
            ),
            labels: []
        ).set(Double(consecutiveFailures))
        registry.makeCounter(
            descriptor: .init(metricName: "backfill_runs", unitName: "total", helpText: "Backfill runs by status"),
            labels: [("status", status)]
        ).increment()
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_bars_written",
                unitName: "total",
                helpText: "Bars written by backfills"
            ),
            labels: []
        ).increment(by: Int64(barsWritten))
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
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_attempts",
                unitName: "total",
                helpText: "Provider attempts by outcome (ok, retry, gave_up, unknown_symbol, refused, rejected, budget)"
            ),
            labels: [("outcome", a.outcome.rawValue)]
        ).increment()
        if let wait = a.waitSeconds {
            registry.makeCounter(
                descriptor: .init(
                    metricName: "backfill_backoff_wait_seconds",
                    unitName: "total",
                    helpText: "Backoff waits chosen between provider attempts"
                ),
                labels: []
            ).increment(by: wait)
        }
        registry.makeCounter(
            descriptor: .init(
                metricName: "backfill_rate_limiter_wait_seconds",
                unitName: "total",
                helpText: "Waits on the learned provider rate limit before sending"
            ),
            labels: []
        ).increment(by: a.limiterWaitSeconds)
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
        if status == 429 {
            registry.makeCounter(
                descriptor: .init(
                    metricName: "provider_rate_limited",
                    unitName: "total",
                    helpText: "Provider 429 answers"
                ),
                labels: []
            ).increment()
        }
    }
}
