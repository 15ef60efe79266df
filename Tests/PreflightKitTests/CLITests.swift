import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// Runs the built `preflight` binary and checks its exit codes and reports (SPEC §3).
    @Suite struct CLITests {
        /// The `preflight` executable next to the test bundle (or `PREFLIGHT_BIN`).
        static let binary: URL = {
            if let path = ProcessInfo.processInfo.environment["PREFLIGHT_BIN"] { return URL(fileURLWithPath: path) }
            let testBinary = URL(fileURLWithPath: CommandLine.arguments[0])
            var dir = testBinary.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("preflight")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
            return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/preflight")
        }()

        static func preflight(
            _ arguments: [String],
            in dir: URL,
            environment: [String: String] = [:],
            whileRunning: @Sendable (Int32) async throws -> Void = { _ in }
        ) async throws -> Finished {
            try await runProcess(binary, arguments, in: dir, environment: environment, whileRunning: whileRunning)
        }

        static func tempDir() throws -> URL {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "preflight-cli-\(UUID().uuidString)"
            )
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return dir
        }

        static func write(_ json: String, to dir: URL) throws -> String {
            try json.write(to: dir.appendingPathComponent("s.json"), atomically: true, encoding: .utf8)
            return "s.json"
        }

        static func reports(in dir: URL) throws -> [Report] {
            let root = dir.appendingPathComponent("reports")
            let folders = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter {
                $0 != "index.html" && $0 != BaselineMarks.fileName
            }
            return try folders.map {
                try ReportWriter.decoder().decode(
                    Report.self,
                    from: Data(contentsOf: root.appendingPathComponent($0).appendingPathComponent("report.json"))
                )
            }
        }

        static func scenario(port: Int, load: String, thresholds: String, extra: String = "") -> String {
            """
            { "name": "cli", "target": { "baseURL": "http://127.0.0.1:\(port)" }, \(extra)
              "requests": [ { "name": "ok", "path": "/ok", "checks": [ { "status": 200 } ] } ],
              "load": \(load), "thresholds": \(thresholds) }
            """
        }

        @Test func passingThresholdsExitZeroAndWriteAReport() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            try await withTestServer(countingRouter()) { port in
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load: #"{ "executor": "constant-vus", "vus": 2, "duration": "1s" }"#,
                        thresholds: #"{ "http_req_failed": ["rate<0.01"], "http_req_duration": ["p(99)<5000"] }"#
                    ),
                    to: dir
                )
                let stepSummary = dir.appendingPathComponent("step-summary.md")
                let run = try await Self.preflight(
                    ["run", file, "--seed", "7"],
                    in: dir,
                    environment: ["GITHUB_STEP_SUMMARY": stepSummary.path]
                )
                #expect(run.status == 0, "\(run.stderr)")
                #expect(run.stdout.contains("verdict: PASS"))
                // Not a terminal: at most one progress line per 10 s.
                #expect(run.stderr.components(separatedBy: "req/s  p95").count - 1 <= 1, "\(run.stderr)")
                let summary = try String(contentsOf: stepSummary, encoding: .utf8)
                #expect(summary.hasPrefix("## ✅ PASS — cli"))
                let root = dir.appendingPathComponent("reports")
                let folder = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: root.path).first { $0 != "index.html" }
                )
                for file in ["report.json", "report.html", "junit.xml", "summary.md"] {
                    #expect(
                        FileManager.default.fileExists(atPath: root.appendingPathComponent("\(folder)/\(file)").path)
                    )
                }
                #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("index.html").path))
                let reports = try Self.reports(in: dir)
                #expect(reports.count == 1)
                #expect(reports.first?.verdict == .pass)
                #expect(reports.first?.run.seed == 7)
                #expect(reports.first?.transport.mode == .real)
                #expect(reports.first?.thresholds.allSatisfy { $0.ok && $0.observed != nil } == true)
            }
        }

        @Test func aFailingThresholdExits99() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            try await withTestServer(countingRouter()) { port in
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load: #"{ "executor": "per-vu-iterations", "vus": 2, "iterations": 5 }"#,
                        thresholds: #"{ "http_reqs": ["count<5"] }"#
                    ),
                    to: dir
                )
                let run = try await Self.preflight(["run", file], in: dir)
                #expect(run.status == 99)
                #expect(run.stdout.contains("✗ http_reqs count<5   observed 10"))
                #expect(try Self.reports(in: dir).first?.verdict == .fail)
            }
        }

        @Test func aBadScenarioExits2AndSendsNothing() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter)) { port in
                let good = Self.scenario(
                    port: port,
                    load: #"{ "executor": "per-vu-iterations" }"#,
                    thresholds: #"{}"#
                )
                try good.write(to: dir.appendingPathComponent("a-good.json"), atomically: true, encoding: .utf8)
                let bad = Self.scenario(
                    port: port,
                    load:
                        #"{ "executor": "constant-arrival-rate", "rate": -5, "duration": "1s", "preAllocatedVUs": 1 }"#,
                    thresholds: #"{ "http_req_duration{name:nope}": ["p(95)<1"] }"#
                )
                try bad.write(to: dir.appendingPathComponent("b-bad.json"), atomically: true, encoding: .utf8)
                let run = try await Self.preflight(["run", "a-good.json", "b-bad.json"], in: dir)
                #expect(run.status == 2)
                #expect(run.stderr.contains("b-bad.json: $.load.rate: must be > 0, got -5"))
                #expect(run.stderr.contains("b-bad.json: $.thresholds[\"http_req_duration{name:nope}\"][0]"))
                #expect(counter.total == 0)
                #expect(try Self.reports(in: dir).isEmpty)
                let validate = try await Self.preflight(["validate", "b-bad.json"], in: dir)
                #expect(validate.status == 2)
                #expect(counter.total == 0)
            }
        }

        /// The exit-code table says 2 for usage errors; swift-argument-parser's own default is 64.
        @Test(arguments: [
            ["run", "s.json", "--mode", "bogus"], ["run", "s.json", "--bogus"], ["run", "s.json", "--seed", "abc"],
            ["run", "s.json", "--event-loops", "0"], ["run"], ["drill"], ["no-such-command"],
            ["run", "s.json", "--seed", "9007199254740992"], ["run", "s.json", "--var", "=x"],
            ["serve", "--parallel-backfill", "--sequential-backfill"], ["provider-sim", "--window", "bogus"],
        ])
        func aUsageErrorExits2WithTheUsageLine(_ arguments: [String]) async throws {
            let dir = try Self.tempDir()
            let result = try await Self.preflight(arguments, in: dir)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("Usage:") || result.stderr.contains("Error:"), "\(result.stderr)")
        }

        /// With `--port 0` the listen line is the only way to learn the port.
        @Test(arguments: [["serve", "--port", "0", "--db", "api.sqlite"], ["provider-sim", "--port", "0"]])
        func serversPrintTheAddressTheyListenOn(_ arguments: [String]) async throws {
            let dir = try Self.tempDir()
            let result = try await Self.preflight(arguments, in: dir) { pid in
                try await Task.sleep(for: .seconds(3))
                kill(pid, SIGTERM)
            }
            let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("listening on") })
            let port = Int(line.split(separator: ":").last ?? "") ?? 0
            #expect(line.hasPrefix("preflight \(arguments[0]): listening on http://127.0.0.1:"))
            #expect(port > 0)
        }

        @Test func validateTellsLoadScenariosFromDrillsByTheirKind() async throws {
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scenarios")
            let dir = try Self.tempDir()
            let files = [
                repo.appendingPathComponent("cached_symbol.json").path,
                repo.appendingPathComponent("rto_rpo_recovery.json").path,
            ]
            let one = try await Self.preflight(["validate"] + files, in: dir)
            #expect(one.status == 0, "\(one.stderr)")
            #expect(one.stdout.contains("cached-symbol, 1 requests"))
            #expect(one.stdout.contains("drill rto-rpo-recovery"))
            let folder = try await Self.preflight(["validate", repo.path], in: dir)
            #expect(folder.status == 0, "\(folder.stderr)")
            // Every shipped file: the five load scenarios (the capacity search's too) and the drill.
            let shipped = try FileManager.default.contentsOfDirectory(atPath: repo.path).filter {
                $0.hasSuffix(".json") && !ScenarioLoader.isSchema($0)
            }
            #expect(shipped.count == 6)
            #expect(folder.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == shipped.count)
            #expect(folder.stdout.contains("scheduler-health, 5 requests"))
        }

        @Test func sigintWritesAPartialReportAndExits130() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter, hold: .milliseconds(5))) { port in
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load: #"{ "executor": "constant-vus", "vus": 3, "duration": "60s", "gracefulStop": "5s" }"#,
                        thresholds: #"{ "http_req_failed": ["rate<0.01"] }"#
                    ),
                    to: dir
                )
                // The server also counts the probe's request, which is in no report: wait for 31 to see 30.
                let run = try await Self.preflight(["run", file], in: dir) { pid in
                    for _ in 0..<600 where counter.total < 31 { try await Task.sleep(for: .milliseconds(50)) }
                    kill(pid, SIGINT)
                }
                #expect(run.status == 130, "\(run.stderr)")
                let report = try #require(try Self.reports(in: dir).first)
                #expect(report.run.interrupted)
                #expect(report.verdict == .inconclusive)
                #expect(report.run.durationSeconds < 50)
                #expect((report.requests.first?.count ?? 0) >= 30)
            }
        }

        @Test func anUnwritableOutFolderIsAUsageErrorBeforeAnyRequest() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter)) { port in
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load: #"{ "executor": "per-vu-iterations" }"#,
                        thresholds: #"{}"#,
                        extra: #""transport": { "mode": "real" },"#
                    ),
                    to: dir
                )
                // A regular file where the folder should be: no user, not even root, can create a folder in it.
                try Data().write(to: dir.appendingPathComponent("taken"))
                let run = try await Self.preflight(["run", file, "--out", "taken/reports"], in: dir)
                #expect(run.status == 2, "\(run.stderr)")
                #expect(run.stderr.contains("--out taken/reports: cannot write there"))
                #expect(counter.total == 0)
            }
        }

        @Test func aSigintDuringTheProbeDoesNotWaitOutItsTimeout() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter, hold: .seconds(20))) { port in
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load: #"{ "executor": "per-vu-iterations" }"#,
                        thresholds: #"{}"#,
                        extra: #""transport": { "mode": "auto", "probe": { "timeout": "30s" } },"#
                    ),
                    to: dir
                )
                let clock = ContinuousClock()
                let started = clock.now
                let run = try await Self.preflight(["run", file], in: dir) { pid in
                    for _ in 0..<600 where counter.total < 1 { try await Task.sleep(for: .milliseconds(50)) }
                    kill(pid, SIGINT)
                }
                #expect(run.status == 130, "\(run.stderr)")
                // The probe would have waited 30 s (the server holds 20 s); generous for a loaded machine.
                #expect(clock.now - started < .seconds(15))
            }
        }

        /// SPEC §3: 130 means a partial report was written, also when a second signal cuts `gracefulStop` short.
        @Test func aSecondSigintAbandonsRequestsInFlightAndStillWritesTheReport() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter, hold: .seconds(20))) { port in
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load: #"{ "executor": "constant-vus", "vus": 2, "duration": "60s", "gracefulStop": "60s" }"#,
                        thresholds: #"{}"#,
                        extra: #""http": { "timeout": "60s" }, "transport": { "mode": "real" },"#
                    ),
                    to: dir
                )
                let run = try await Self.preflight(["run", file], in: dir) { pid in
                    for _ in 0..<600 where counter.total < 2 { try await Task.sleep(for: .milliseconds(50)) }
                    kill(pid, SIGINT)
                    try await Task.sleep(for: .milliseconds(500))
                    kill(pid, SIGINT)
                }
                #expect(run.status == 130, "\(run.stderr)")
                #expect(run.stderr.contains("second signal: abandoning requests in flight"))
                let report = try #require(try Self.reports(in: dir).first)
                #expect(report.run.interrupted)
                #expect(report.run.abandonedIterations == 2)
                #expect(report.run.durationSeconds < 15, "the second signal did not wait out gracefulStop")
                // #32, item 11: it said the requests were in flight "when gracefulStop (60s) ran out", 1 s in.
                #expect(
                    report.warnings.contains { $0.contains("in flight at the second signal") },
                    "\(report.warnings)"
                )
                #expect(!report.warnings.contains { $0.contains("ran out") }, "\(report.warnings)")
            }
        }

        @Test func aTargetThatDiesMidRunIsCountedNotACrash() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let counter = RequestCounter()
            let router = countingRouter(counter: counter)
            var logger = Logger(label: "dying-server")
            logger.logLevel = .critical
            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) },
                logger: logger
            )
            let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                let file = try Self.write(
                    Self.scenario(
                        port: port,
                        load:
                            #"{ "executor": "constant-arrival-rate", "rate": 50, "duration": "4s", "preAllocatedVUs": 2 }"#,
                        thresholds: #"{ "http_req_failed": ["rate<0.01"] }"#,
                        extra: #""http": { "connectTimeout": "1s", "timeout": "2s" },"#
                    ),
                    to: dir
                )
                let run = try await Self.preflight(["run", file], in: dir) { _ in
                    for _ in 0..<400 where counter.total < 40 { try await Task.sleep(for: .milliseconds(25)) }
                    await group.triggerGracefulShutdown()
                }
                #expect(run.status == 99, "\(run.stderr)")
                let report = try #require(try Self.reports(in: dir).first)
                let errors = report.requests.first?.errors ?? [:]
                #expect((errors["connect"] ?? 0) + (errors["reset"] ?? 0) > 0, "\(errors)")
                #expect(report.thresholds.first?.ok == false)
                tasks.cancelAll()
            }
        }

        static func mockScenario(port: Int) -> String {
            """
            { "name": "mocked", "target": { "baseURL": "http://127.0.0.1:\(port)" },
              "data": { "symbol": ["AAPL", "MSFT"] },
              "transport": { "probe": { "timeout": "1s" },
                "mock": { "latency": { "distribution": "uniform", "min": "1ms", "max": "5ms" },
                          "responses": { "features": { "status": 200, "headers": { "X-Cache": "HIT" },
                                                       "body": { "symbol": "{{symbol}}", "features": { "rsi_14": 55.2 } } } } } },
              "requests": [ { "name": "features", "path": "/api/v1/features/quant/{{symbol}}",
                              "checks": [ { "status": 200 }, { "json": "$.symbol", "equals": "{{symbol}}" },
                                          { "json": "$.features.rsi_14", "exists": true }, { "header": "X-Cache", "equals": "HIT" } ] } ],
              "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 10 },
              "thresholds": { "checks": ["rate>0.99"], "http_req_failed": ["rate<0.01"] } }
            """
        }

        @Test func aMissingEndpointRunsOnTheMockLoudlyAndExits3() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try await Serial.ProbeTests().closedPort()
            let file = try Self.write(Self.mockScenario(port: port), to: dir)
            let run = try await Self.preflight(["run", file, "--seed", "5"], in: dir)
            #expect(run.status == 3, "\(run.stderr)")
            let banner =
                "MOCK TRANSPORT — target endpoint not found (cannot connect to 127.0.0.1:\(port)); results do not describe the target"
            #expect(run.stderr.components(separatedBy: banner).count == 3, "banner at start and end: \(run.stderr)")
            #expect(run.stderr.contains("start it or check --target; --mode real makes a missing target a failing run"))
            let report = try #require(try Self.reports(in: dir).first)
            #expect(report.warnings.contains { $0.hasPrefix("mock chosen by the probe: if the target should be up") })
            #expect(report.transport.mode == .mock)
            #expect(report.transport.reason == "target endpoint not found (cannot connect to 127.0.0.1:\(port))")
            #expect(report.transport.probe?.error == "connect")
            #expect(report.transport.mock?.distribution == "uniform")
            #expect(report.transport.mock?.seed == 5)
            #expect(report.verdict == .inconclusive)
            #expect(report.thresholds.allSatisfy { $0.ok })
            #expect(report.requests.first?.checks.failed == 0)
            #expect(report.requests.first?.checks.passed == 80)

            let allowed = try await Self.preflight(["run", file, "--allow-mock"], in: dir)
            #expect(allowed.status == 0, "\(allowed.stderr)")
            #expect(allowed.stderr.contains("MOCK TRANSPORT"))
            #expect(allowed.stdout.contains("transport MOCK"))
        }

        @Test func aFailingEndpointIsTestedNeverMocked() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let router = Router()
            router.get("/api/v1/features/quant/{symbol}") { _, _ in Response(status: .internalServerError) }
            try await withTestServer(router) { port in
                let file = try Self.write(Self.mockScenario(port: port), to: dir)
                let run = try await Self.preflight(["run", file], in: dir)
                #expect(run.status == 99, "\(run.stderr)")
                #expect(!run.stderr.contains("MOCK"))
                let report = try #require(try Self.reports(in: dir).first)
                #expect(report.transport.mode == .real)
                #expect(report.transport.reason == "endpoint answered 500")
                #expect(report.transport.probe?.status == 500)
                #expect(report.requests.first?.errors["http_5xx"] == 20)
            }
        }

        @Test func modeRealNeverMocksAndModeMockAlwaysDoes() async throws {
            let dir = try Self.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try await Serial.ProbeTests().closedPort()
            let file = try Self.write(Self.mockScenario(port: port), to: dir)
            let real = try await Self.preflight(["run", file, "--mode", "real"], in: dir)
            #expect(real.status == 99)
            #expect(!real.stderr.contains("MOCK"))
            let mock = try await Self.preflight(["run", file, "--mode", "mock", "--out", "mocked"], in: dir)
            #expect(mock.status == 3)
            #expect(mock.stderr.contains("MOCK TRANSPORT — mode mock was requested"))
        }
    }
}
