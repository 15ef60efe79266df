import Foundation
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// The probe and the README's quick start against the reference API, started as a child process.
    @Suite struct ReferenceAPIProbeTests {
        static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()

        /// Starts `preflight serve` on a free port with the given symbols (and `arguments`, default demo data);
        /// stops it after `body`.
        static func withReferenceAPI<T: Sendable>(
            symbols: String,
            arguments: String = "--demo-data",
            _ body: @Sendable (Int, URL) async throws -> T
        ) async throws -> T {
            let dir = try CLITests.tempDir()
            let port = try freePort()
            let pidFile = dir.appendingPathComponent("api.pid").path
            try runShell(
                "'\(CLITests.binary.path)' serve --port \(port) --db '\(dir.path)/api.sqlite' \(arguments) "
                    + "--symbols '\(symbols)' </dev/null >'\(dir.path)/api.log' 2>&1 & echo $! > '\(pidFile)'"
            )
            defer { _ = try? runShell("kill $(cat '\(pidFile)') 2>/dev/null") }
            // Ready when /readyz answers (filling 600 symbols with demo data takes a few seconds).
            let probe = try TransportFactory(target: TargetURL.parse("http://127.0.0.1:\(port)").get()).oneShot(
                connectTimeout: 1
            )
            var ready = false
            for _ in 0..<600 where !ready {
                ready = await probe.send(method: "GET", path: "/readyz", timeout: 1).status == 200
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            try #require(ready, "the reference API did not become ready")
            return try await body(port, dir)
        }

        static func scenario(path: String, symbol: String) -> String {
            """
            { "name": "probe-\(symbol.lowercased())", "target": { "baseURL": "${PREFLIGHT_TARGET}" },
              "data": { "symbol": ["\(symbol)"] },
              "requests": [ { "name": "features", "path": "\(path)", "checks": [ { "status": 200 } ] } ],
              "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 5 } }
            """
        }

        @Test func anUnknownSymbolIsTheRealAPIFailingAndAWrongPrefixIsAMissingEndpoint() async throws {
            try await Self.withReferenceAPI(symbols: "AAPL") { port, dir in
                let env = ["PREFLIGHT_TARGET": "http://127.0.0.1:\(port)"]
                try Self.scenario(path: "/api/v1/features/quant/{{symbol}}", symbol: "ZZZZ9")
                    .write(to: dir.appendingPathComponent("unknown.json"), atomically: true, encoding: .utf8)
                try Self.scenario(path: "/api/v9/features/quant/{{symbol}}", symbol: "AAPL")
                    .write(to: dir.appendingPathComponent("prefix.json"), atomically: true, encoding: .utf8)
                let unknown = try await CLITests.preflight(["run", "unknown.json"], in: dir, environment: env)
                #expect(unknown.status == 99, "\(unknown.stderr)")
                let prefix = try await CLITests.preflight(["run", "prefix.json"], in: dir, environment: env)
                #expect(prefix.status == 3, "\(prefix.stderr)")
                let reports = try CLITests.reports(in: dir)
                let byName = Dictionary(uniqueKeysWithValues: reports.map { ($0.scenario.name, $0) })
                #expect(byName["probe-zzzz9"]?.transport.mode == .real)
                #expect(byName["probe-zzzz9"]?.transport.reason.hasPrefix("route exists") == true)
                #expect(byName["probe-zzzz9"]?.transport.probe?.decoys?.count == 2)
                #expect(byName["probe-aapl"]?.transport.mode == .mock)
            }
        }

        /// The README's by-hand start: `provider-sim`, `serve --demo-data --provider …`, then `run scenarios/` —
        /// every load scenario REAL, the scheduler's included.
        @Test func theQuickStartRunsEveryShippedScenarioAgainstTheRealAPI() async throws {
            let csv = try String(
                contentsOf: Self.repository.appendingPathComponent("scenarios/data/universe.csv"),
                encoding: .utf8
            )
            let symbols = csv.split(separator: "\n").dropFirst().joined(separator: ",")
            try await BaselineCLITests.withProviderSim("--rate-limit 1000/1s") { simPort, _ in
                try await Self.quickStart(symbols: symbols, provider: "http://127.0.0.1:\(simPort)")
            }
        }

        static func quickStart(symbols: String, provider: String) async throws {
            try await Self.withReferenceAPI(symbols: symbols, arguments: "--demo-data --provider \(provider)") {
                port,
                dir in
                let run = try await CLITests.preflight(
                    [
                        "run", Self.repository.appendingPathComponent("scenarios").path, "--target",
                        "http://127.0.0.1:\(port)", "--var", "DURATION=2s", "--var", "JOURNEYS=1", "--var",
                        "CAPACITY_MAX_RATE=400", "--var", "CAPACITY_STEP=1s", "--var", "CAPACITY_CONFIRM=2s", "--out",
                        dir.appendingPathComponent("reports").path,
                    ],
                    in: dir
                )
                let reports = try CLITests.reports(in: dir)
                #expect(
                    Set(reports.map(\.scenario.name)) == [
                        "backfill-journey", "cached-symbol", "uncached-symbols", "scheduler-health",
                        "capacity-features",
                    ],
                    "\(run.stderr)"
                )
                // A folder's capacity searches run last: they drive the target to its limit and fill its cache,
                // which the uncached scenario's checks would see.
                let order = reports.sorted { $0.run.startedAt < $1.run.startedAt }.map(\.scenario.name)
                #expect(order.last == "capacity-features", "\(order)")
                for r in reports {
                    #expect(r.transport.mode == .real, "\(r.scenario.name): \(r.transport.reason)")
                    #expect((r.requests.first?.checks.passed ?? 0) > 0, "\(r.scenario.name)")
                }
                // The scheduler's endpoints pass every check (their latency thresholds are a debug build's, or
                // TSan's, here: not asserted).
                let scheduler = try #require(reports.first { $0.scenario.name == "scheduler-health" })
                for request in scheduler.requests {
                    #expect(request.checks.failed == 0 && request.checks.passed > 0, "\(request.name)")
                }
                // The journey (its probe a real trigger, as `auto` mode does): every step's checks hold, no
                // iteration stopped, each run polled to its end.
                let journey = try #require(reports.first { $0.scenario.name == "backfill-journey" })
                #expect(journey.flow?.stopped == 0)
                for request in journey.requests {
                    #expect(request.checks.failed == 0 && request.checks.passed > 0, "\(request.name)")
                }
                #expect(run.stderr.contains("skipped the drill"))
            }
        }
    }
}

extension Serial {
    /// SPEC §10's staged rollout: the scheduler backfills one symbol at a time unless `--parallel-backfill`.
    @Suite struct ServeRolloutTests {
        static func health(_ extra: [String]) async throws -> JSONValue {
            // A provider that refuses connections: the scheduler runs and fails, which is all this needs.
            let provider = try freePort()
            let arguments = (["--provider", "http://127.0.0.1:\(provider)"] + extra).joined(separator: " ")
            return try await ReferenceAPIProbeTests.withReferenceAPI(symbols: "AAPL", arguments: arguments) { port, _ in
                let client = try TransportFactory(target: TargetURL.parse("http://127.0.0.1:\(port)").get()).oneShot(
                    connectTimeout: 1
                )
                let answer = await client.send(
                    method: "GET",
                    path: "/api/v1/admin/scheduler-health",
                    timeout: 5,
                    wantsBody: true
                )
                let body = try #require(answer.body, "scheduler-health answered \(answer.status)")
                return try JSONValue.parse(Data(body))
            }
        }

        @Test func theSchedulerIsSequentialUnlessParallelBackfillIsGiven() async throws {
            let sequential = try await Self.health([])
            #expect(sequential["parallel"] == .bool(false))
            #expect(sequential["maxConcurrentSymbols"] == .number(1))
            let parallel = try await Self.health(["--parallel-backfill", "--max-concurrent-symbols", "4"])
            #expect(parallel["parallel"] == .bool(true))
            #expect(parallel["maxConcurrentSymbols"] == .number(4))
        }
    }
}
