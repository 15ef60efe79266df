import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// `target.metrics` against the reference API as a separate process, during a real run.
    @Suite struct ServerScrapeCLITests {
        static func scenario(port: Int, thresholds: String) -> String {
            """
            { "name": "scrape", "target": { "baseURL": "http://127.0.0.1:\(port)",
                "metrics": { "url": "/metrics", "interval": "500ms", "series": [
                  { "name": "cache_hit_ratio", "ratio": ["feature_cache_requests_total{result=\\"hit\\"}", "feature_cache_requests_total"] },
                  { "name": "features_per_s", "rate": "http_requests_total{route=\\"/api/v1/features/quant/{symbol}\\"}" },
                  { "name": "server_p95_ms", "histogram": "http_request_duration_seconds{route=\\"/api/v1/features/quant/{symbol}\\"}", "quantile": 0.95, "scale": 1000 },
                  { "name": "in_flight", "gauge": "http_requests_in_flight" } ] } },
              "data": { "symbol": { "values": ["S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08"], "order": "random" } },
              "requests": [ { "name": "features", "path": "/api/v1/features/quant/{{symbol}}",
                              "checks": [ { "status": 200 }, { "header": "X-Cache", "equals": "HIT" } ] } ],
              "load": { "executor": "constant-arrival-rate", "rate": 200, "duration": "4s", "preAllocatedVUs": 10, "maxVUs": 50 },
              "thresholds": \(thresholds) }
            """
        }

        /// The server's cache-hit ratio equals the share of answers the client saw with `X-Cache: HIT`: the
        /// scrape window holds exactly the measured requests (the first scrape comes after the probe, the last
        /// after the last answer). An LRU of 4 over 8 symbols in random order makes about half of them hits.
        @Test func theServersCacheHitRatioMatchesTheClientsXCacheShare() async throws {
            let dir = try CLITests.tempDir()
            let port = try freePort()
            try """
            #!/bin/sh
            '\(CLITests.binary.path)' serve --port \(port) --db '\(dir.path)/api.sqlite' --demo-data --cache-size 4 \
                --symbols S01,S02,S03,S04,S05,S06,S07,S08 </dev/null >>'\(dir.path)/api.log' 2>&1 &
            echo $! > '\(dir.path)/api.pid'
            """.write(to: dir.appendingPathComponent("start.sh"), atomically: true, encoding: .utf8)
            chmod(dir.appendingPathComponent("start.sh").path, 0o755)
            defer { _ = try? runShell("kill -9 $(cat '\(dir.path)/api.pid') 2>/dev/null") }
            _ = try runShell("'\(dir.path)/start.sh'")
            try await SharedStoreTests.waitUntilReady(port)

            let file = try CLITests.write(
                Self.scenario(
                    port: port,
                    thresholds:
                        #"{ "http_req_failed": ["rate<0.01"], "server{cache_hit_ratio}": ["value>0.2", "value<0.8"] }"#
                ),
                to: dir
            )
            let run = try await CLITests.preflight(["run", file, "--seed", "3", "--out", "reports"], in: dir)
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            let report = try #require(try CLITests.reports(in: dir).first)
            #expect(report.transport.mode == .real)
            let server = try #require(report.server)
            #expect(server.failedScrapes <= 1, "\(server.errors)")  // one slow answer on a busy machine, at most
            #expect(server.scrapes >= 8, "every 500 ms over 4 s, plus the first and the last")
            let hits = try #require(report.requests.first?.checkResults.first { $0.name.contains("X-Cache") })
            let clientShare = Double(hits.passed) / Double(hits.passed + hits.failed)
            let ratio = try #require(server.series.first { $0.name == "cache_hit_ratio" })
            let serverRatio = try #require(ratio.value)
            #expect(clientShare > 0.2 && clientShare < 0.8, "a mix of hits and misses: \(clientShare)")
            #expect(abs(serverRatio - clientShare) < 0.02, "server \(serverRatio) vs client \(clientShare)")
            #expect(ratio.points.count >= 6)
            #expect(ratio.points.allSatisfy { $0[0] >= 0 && $0[0] <= report.run.durationSeconds + 1 })
            // The server counted the requests the client sent, at the rate it sent them.
            let rate = try #require(server.series.first { $0.name == "features_per_s" }?.value)
            #expect(abs(rate * report.run.durationSeconds - Double(report.requests[0].count)) <= 2)
            #expect((server.series.first { $0.name == "server_p95_ms" }?.value ?? 0) > 0)
            #expect(report.thresholds.contains { $0.metric == "server{cache_hit_ratio}" && $0.ok })
            let html = try String(
                contentsOf: dir.appendingPathComponent("reports").appendingPathComponent(
                    try #require(
                        FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("reports").path)
                            .first { $0.hasPrefix("scrape-") }
                    )
                ).appendingPathComponent("report.html"),
                encoding: .utf8
            )
            #expect(html.contains("The server's view"))
            #expect(html.contains("Server: cache_hit_ratio"))

            // A server threshold that does not hold fails the run like any other.
            let strict = try CLITests.write(
                Self.scenario(port: port, thresholds: #"{ "server{cache_hit_ratio}": ["value>0.99"] }"#),
                to: dir
            )
            let failing = try await CLITests.preflight(["run", strict, "--seed", "3", "--out", "reports2"], in: dir)
            #expect(failing.status == 99, "\(failing.stdout)")
        }
    }
}
