import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import MarketData

struct MetricsTests {
    @Test func metricsAreServedInPrometheusTextFormat() async throws {
        let services = try await makeServices { $0.symbols = ["AAPL"] }
        try await services.store.upsert(DemoData.bars(symbol: "AAPL", days: 30), symbol: "AAPL")
        try await application(services).test(.router) { client in
            for _ in 0..<3 { _ = try await client.execute(uri: "/api/v1/features/quant/AAPL", method: .get) }
            _ = try await client.execute(uri: "/api/v1/features/quant/bad", method: .get)
            let r = try await client.execute(uri: "/metrics", method: .get)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: r.body)
            #expect(
                text.contains(
                    #"http_requests_total{route="/api/v1/features/quant/{symbol}",method="GET",status="200"} 3"#
                ),
                "\(text)"
            )
            #expect(
                text.contains(
                    #"http_requests_total{route="/api/v1/features/quant/{symbol}",method="GET",status="400"} 1"#
                )
            )
            #expect(text.contains(#"feature_cache_requests_total{result="hit"} 2"#))
            #expect(text.contains(#"feature_cache_requests_total{result="miss"} 1"#))
            #expect(text.contains(#"db_query_duration_seconds_count{query="recent_bars"} 1"#))
            #expect(text.contains("http_request_duration_seconds_bucket"))
        }
    }
}

/// Every series is exported from the start, at 0 (#32, item 12): `rate()` and absence alerts need it before its first
/// event; the scheduler's only where a scheduler runs, so a gate on them has no data without one.
struct MetricsAtZeroTests {
    @Test func everyCounterIsExportedAtZeroBeforeItsFirstEvent() async throws {
        let services = try await makeServices { $0.symbols = ["AAPL"] }
        try await application(services).test(.router) { client in
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains(#"feature_cache_requests_total{result="hit"} 0"#), "\(text)")
            #expect(text.contains(#"feature_cache_requests_total{result="miss"} 0"#))
            #expect(text.contains("http_requests_in_flight"))
            // No scheduler: none of its series, so `server{consecutive_failures}` has no data instead of a false 0.
            #expect(!text.contains("backfill_"))
            #expect(!text.contains("provider_rate_limited_total"))
        }
    }

    @Test func withASchedulerItsCountersAreExportedAtZero() async throws {
        var services = try await makeServices { $0.symbols = ["AAPL"] }
        var logger = Logger(label: "metrics-test")
        logger.logLevel = .critical
        services.scheduler = AutoBackfillScheduler(
            store: services.store,
            client: ProviderClient(
                transport: HTTPProviderTransport(baseURL: "http://127.0.0.1:9"),
                limiter: RateLimiter(limit: nil, window: nil),
                random: SharedRandom(seed: 1),
                logger: logger
            ),
            configuration: BackfillConfiguration(symbols: ["AAPL"]),
            metrics: services.metrics,
            logger: logger
        )
        try await application(services).test(.router) { client in
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            for line in [
                "backfill_backoff_wait_seconds_total 0", "provider_rate_limited_total 0",
                "backfill_consecutive_failures 0", "backfill_bars_written_total 0",
                "backfill_rate_limiter_wait_seconds_total 0", "backfill_symbols_in_flight 0",
                #"backfill_runs_total{status="failed"} 0"#, #"backfill_attempts_total{outcome="retry"} 0"#,
            ] {
                #expect(text.contains(line), "missing \(line) in\n\(text)")
            }
            #expect(text.contains("# TYPE provider_rate_limited_total counter"))
            #expect(text.contains("# HELP backfill_backoff_wait_seconds_total"))
        }
    }
}
