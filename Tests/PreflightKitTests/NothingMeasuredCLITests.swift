import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// The README's word, round two (#32, items 1–6), through the built binary: a gate never passes on nothing, a
    /// drill whose service never returns fails, and `serve` stops cleanly.
    @Suite struct NothingMeasuredCLITests {
        /// Starts `preflight serve` (AAPL with demo data) as a separate process on a free port; kills it after `body`.
        static func withServe<T: Sendable>(
            _ extra: String = "",
            _ body: @Sendable (Int, URL) async throws -> T
        ) async throws -> T {
            let dir = try CLITests.tempDir()
            let port = try freePort()
            let start = dir.appendingPathComponent("start.sh")
            try """
            #!/bin/sh
            '\(CLITests.binary.path)' serve --port \(port) --db '\(dir.path)/api.sqlite' --symbols AAPL --demo-data \(extra) \
                </dev/null >>'\(dir.path)/api.log' 2>&1 &
            echo $! > '\(dir.path)/api.pid'
            """.write(to: start, atomically: true, encoding: .utf8)
            chmod(start.path, 0o755)
            defer { _ = try? runShell("kill -9 $(cat '\(dir.path)/api.pid') 2>/dev/null") }
            _ = try runShell("'\(start.path)'")
            try await SharedStoreTests.waitUntilReady(port)
            return try await body(port, dir)
        }

        static func scenario(
            port: Int,
            series: String,
            thresholds: String,
            rate: Int = 50,
            duration: String = "2s"
        ) -> String {
            """
            { "name": "gate", "target": { "baseURL": "http://127.0.0.1:\(port)",
                "metrics": { "url": "/metrics", "interval": "500ms", "series": [ \(series) ] } },
              "data": { "symbol": ["AAPL"] },
              "requests": [ { "name": "features", "path": "/api/v1/features/quant/{{symbol}}",
                              "checks": [ { "status": 200 } ] } ],
              "load": { "executor": "constant-arrival-rate", "rate": \(rate), "duration": "\(duration)",
                        "preAllocatedVUs": 5, "maxVUs": 20 },
              "thresholds": \(thresholds) }
            """
        }

        /// Item 1: the shipped `scheduler_health` gate `server{consecutive_failures} max==0` passed against a `serve`
        /// without `--provider`, which exports no `backfill_*` series; a typo passed too. Both are no data now.
        @Test func aServerSeriesThatMatchesNothingFailsItsThresholdAndNamesTheClosestSeries() async throws {
            try await Self.withServe { port, dir in
                let file = try CLITests.write(
                    Self.scenario(
                        port: port,
                        series: """
                            { "name": "consecutive_failures", "gauge": "backfill_consecutive_failures" },
                            { "name": "typo", "gauge": "http_requests_in_flite" },
                            { "name": "wrong_label", "rate": "http_requests_total{route=\\"/nowhere\\"}" }
                            """,
                        thresholds: """
                            { "server{consecutive_failures}": ["max==0", "value==0"], "server{typo}": ["max==0"],
                              "server{wrong_label}": ["value==0"] }
                            """
                    ),
                    to: dir
                )
                let run = try await CLITests.preflight(["run", file, "--out", "reports", "--quiet"], in: dir)
                #expect(run.status == 99, "\(run.stdout)\n\(run.stderr)")
                let report = try #require(try CLITests.reports(in: dir).first)
                #expect(report.thresholds.count == 4)
                for t in report.thresholds {
                    #expect(!t.ok && t.observed == nil, "\(t.metric) \(t.expression) must fail on no data")
                }
                let series = try #require(report.server?.series)
                let failures = try #require(series.first { $0.name == "consecutive_failures" }?.noData)
                #expect(failures.contains("matched no sample"), "\(failures)")
                let typo = try #require(series.first { $0.name == "typo" }?.noData)
                #expect(typo.contains("closest series scraped: http_requests_in_flight"), "\(typo)")
                let label = try #require(series.first { $0.name == "wrong_label" }?.noData)
                #expect(label.contains("is exported, but not with these labels"), "\(label)")
                #expect(report.warnings.contains { $0.contains("server{typo} has no data") })
                #expect(run.stdout.contains("observed no data"))
            }
        }

        /// Item 6: a steady rate reads as that rate over every interval; the final scrape, just after the last
        /// answer, no longer adds an interval of a few milliseconds with a rate of 0.
        @Test func aSteadyRateHasNoZeroIntervalAtTheEnd() async throws {
            try await Self.withServe { port, dir in
                let file = try CLITests.write(
                    Self.scenario(
                        port: port,
                        series:
                            #"{ "name": "rps", "rate": "http_requests_total{route=\"/api/v1/features/quant/{symbol}\"}" }"#
                            .description,
                        thresholds: #"{ "server{rps}": ["min>50", "avg>80"] }"#,
                        rate: 100,
                        duration: "3s"
                    ),
                    to: dir
                )
                let run = try await CLITests.preflight(["run", file, "--out", "reports", "--quiet"], in: dir)
                let report = try #require(try CLITests.reports(in: dir).first)
                let rps = try #require(report.server?.series.first)
                #expect(run.status == 0, "points \(rps.points)\n\(run.stdout)")
                #expect((rps.min ?? 0) > 50, "\(rps.points)")
            }
        }

        /// Item 2: the shipped drill, the API killed and never restarted, a 5 s recovery timeout: a failed drill
        /// (exit 99), not an invalid one; RPO and lost writes unmeasured because the service never answered.
        @Test func theShippedDrillFailsWhenTheServiceNeverComesBack() async throws {
            try await Self.withServe { port, dir in
                let drill = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent().appendingPathComponent("scenarios/rto_rpo_recovery.json").path
                let run = try await CLITests.preflight(
                    ["drill", drill, "--target", "http://127.0.0.1:\(port)", "--out", "reports"],
                    in: dir,
                    environment: [
                        "PREFLIGHT_FAULT_CMD": "kill -9 $(cat '\(dir.path)/api.pid')",
                        "PREFLIGHT_FAULT_AFTER": "1s",
                        "PREFLIGHT_RECOVERY_TIMEOUT": "5s",
                    ]
                )
                #expect(run.status == 99, "\(run.stdout)\n\(run.stderr)")
                let report = try #require(try CLITests.reports(in: dir).first)
                #expect(report.verdict == .fail)
                #expect(report.verdictReason.contains("did not recover within 5s"), "\(report.verdictReason)")
                let d = try #require(report.drill)
                #expect(d.ending == .completed)
                #expect(d.invalidReason == nil)
                #expect(!d.rpoMeasured)
                #expect(d.rpoNotMeasured?.contains("never recovered") == true, "\(d.rpoNotMeasured ?? "nil")")
                let rto = try #require(report.thresholds.first { $0.metric == "drill_rto" })
                #expect(!rto.ok && rto.observed == nil)
                #expect(report.thresholds.first { $0.metric == "drill_lost_writes" }?.ok == false)
                #expect(run.stdout.contains("RPO not measured (the service never recovered"), "\(run.stdout)")
            }
        }

        /// Item 3: `serve --provider` exited 1 with `CancellationError()` on SIGTERM/SIGINT; a shutdown is a normal
        /// end, also while a backfill runs.
        @Test(arguments: [SIGTERM, SIGINT])
        func serveWithAProviderStopsWithExitZeroOnASignal(_ signal: Int32) async throws {
            try await BaselineCLITests.withProviderSim("--latency 20ms --rate-limit 1000/1s") { simPort, dir in
                let port = try freePort()
                let serve = try await runProcess(
                    CLITests.binary,
                    [
                        "serve", "--port", String(port), "--db", dir.appendingPathComponent("api.sqlite").path,
                        "--symbols", "AAA,BBB,CCC,DDD,EEE,FFF", "--provider", "http://127.0.0.1:\(simPort)",
                        "--provider-api-key-env", "SIM_KEY",
                    ],
                    in: dir,
                    environment: ["SIM_KEY": BaselineCLITests.key]
                ) { pid in
                    try await SharedStoreTests.waitUntilReady(port)
                    try await Task.sleep(for: .milliseconds(300))  // the first backfill run is under way
                    kill(pid, signal)
                }
                #expect(serve.status == 0, "\(serve.stderr)")
                #expect(!serve.stderr.contains("CancellationError"))
                #expect(serve.stderr.contains("backfill scheduler stopped"), "\(serve.stderr)")
            }
        }

        /// Items 4 and 5: the README's "add --allow-mock to see the pipeline pass on the mock" holds for the
        /// shipped scenarios (their `server{…}` thresholds are skipped, and say so); 2 VUs on 2 event loops at a
        /// low rate never warn about the backlog.
        @Test func theShippedScenariosPassOnTheMockWithAllowMock() async throws {
            let dir = try CLITests.tempDir()
            let scenarios = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scenarios").path
            let run = try await CLITests.preflight(
                [
                    "run", scenarios, "--allow-mock", "--target", "http://127.0.0.1:\(try freePort())", "--var",
                    "DURATION=2s", "--var", "CAPACITY_MAX_RATE=200", "--var", "CAPACITY_STEP=1s", "--var",
                    "CAPACITY_CONFIRM=1s", "--out", "reports", "--quiet",
                ],
                in: dir
            )
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            let reports = try CLITests.reports(in: dir)
            #expect(reports.count == 5, "the five load scenarios (the journey's flow and the capacity search too)")
            var gated = 0
            for report in reports {
                #expect(report.transport.mode == .mock)
                #expect(report.verdict == .pass, "\(report.scenario.name): \(report.verdictReason)")
                let server = report.thresholds.filter { $0.metric.hasPrefix("server{") }
                #expect(server.allSatisfy { $0.ok && $0.skipped?.contains("no server to scrape") == true })
                if !server.isEmpty {
                    gated += 1
                    #expect(report.verdictReason.contains("\(server.count) skipped"), "\(report.verdictReason)")
                }
            }
            #expect(gated == 2, "cached_symbol and scheduler_health gate on the server's view")
            // The capacity search on the mock: labelled, capped by its maxRate, and it says the mock has no capacity.
            let search = try #require(reports.first { $0.capacity != nil })
            #expect(search.capacity?.cappedByMaxRate == true, "\(search.capacity?.summaryLine ?? "")")
            #expect(search.warnings.contains { $0.contains("mock's latency model has no capacity") })
        }

        @Test func twoVUsOnTwoEventLoopsAtALowRateDoNotWarnAboutTheBacklog() async throws {
            let dir = try CLITests.tempDir()
            try await withTestServer(countingRouter()) { port in
                let file = try CLITests.write(
                    CLITests.scenario(
                        port: port,
                        load: """
                            { "executor": "constant-arrival-rate", "rate": 2, "duration": "3s",
                              "preAllocatedVUs": 2, "maxVUs": 2 }
                            """,
                        thresholds: #"{ "http_req_failed": ["rate<0.01"] }"#
                    ),
                    to: dir
                )
                let run = try await CLITests.preflight(
                    ["run", file, "--event-loops", "2", "--out", "reports", "--quiet"],
                    in: dir
                )
                #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
                let report = try #require(try CLITests.reports(in: dir).first)
                let backlog = report.warnings.filter { $0.contains("backlog") || $0.contains("VUs were") }
                #expect(backlog.isEmpty, "\(report.warnings)")
            }
        }

        /// The other side of item 5: arrivals that really waited are counted and named.
        @Test func arrivalsThatWaitedForAVUAreCountedInTheWarning() async throws {
            let dir = try CLITests.tempDir()
            try await withTestServer(countingRouter(hold: .milliseconds(300))) { port in
                let file = try CLITests.write(
                    CLITests.scenario(
                        port: port,
                        load: """
                            { "executor": "constant-arrival-rate", "rate": 20, "duration": "2s",
                              "preAllocatedVUs": 2, "maxVUs": 2, "maxBacklog": 100 }
                            """,
                        thresholds: #"{ "http_req_failed": ["rate<0.5"] }"#
                    ),
                    to: dir
                )
                _ = try await CLITests.preflight(
                    ["run", file, "--event-loops", "2", "--out", "reports", "--quiet"],
                    in: dir
                )
                let report = try #require(try CLITests.reports(in: dir).first)
                let warning = try #require(report.warnings.first { $0.contains("waited in the backlog") })
                let count = Int(warning.prefix { $0.isNumber }) ?? 0
                #expect(count > 10, "\(warning)")
            }
        }
    }
}
