import HTTPTypes
import Hummingbird
import HummingbirdTesting
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
