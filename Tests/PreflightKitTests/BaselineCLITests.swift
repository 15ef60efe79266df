import Foundation
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// `preflight baseline --provider` against `preflight provider-sim` started as a separate process (#13): the
    /// budget is a hard one as the provider counts it, the key travels but never shows.
    @Suite struct BaselineCLITests {
        static let key = "sim-key-5f3a9c"

        /// Starts `preflight provider-sim` on a free port with `arguments` (its key in SIM_KEY); stops it after
        /// `body`.
        static func withProviderSim<T: Sendable>(
            _ arguments: String,
            _ body: @Sendable (Int, URL) async throws -> T
        ) async throws -> T {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try freePort()
            let pidFile = dir.appendingPathComponent("sim.pid").path
            try runShell(
                "SIM_KEY='\(key)' '\(CLITests.binary.path)' provider-sim --port \(port) \(arguments) "
                    + "</dev/null >'\(dir.path)/sim.log' 2>&1 & echo $! > '\(pidFile)'"
            )
            defer { _ = try? runShell("kill $(cat '\(pidFile)') 2>/dev/null") }
            var ready = false
            for _ in 0..<300 where !ready {
                ready = (try? await stats(port)) ?? nil != nil
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            try #require(ready, "provider-sim did not start")
            return try await body(port, dir)
        }

        /// The simulator's own counters (`GET /admin/stats`).
        static func stats(_ port: Int) async throws -> JSONValue? {
            let client = try TransportFactory(target: TargetURL.parse("http://127.0.0.1:\(port)").get()).oneShot(
                connectTimeout: 1
            )
            let answer = await client.send(method: "GET", path: "/admin/stats", timeout: 2, wantsBody: true)
            return try answer.body.map { try JSONValue.parse(Data($0)) }
        }

        static func number(_ v: JSONValue?) -> Double? {
            if case .number(let n)? = v { return n }
            return nil
        }

        @Test func aBaselineAgainstAProviderKeepsItsBudgetAndNeverShowsTheKey() async throws {
            try await Self.withProviderSim("--rate-limit 40/1s --latency 2ms-6ms --api-key-env SIM_KEY") { port, dir in
                try "symbol\nAAA\nBBB\nCCC\nDDD\nEEE\nFFF\nGGG\nHHH\n"
                    .write(to: dir.appendingPathComponent("u.csv"), atomically: true, encoding: .utf8)
                let run = try await CLITests.preflight(
                    [
                        "baseline", "--provider", "http://127.0.0.1:\(port)", "--api-key-env", "SIM_KEY",
                        "--max-requests", "30", "--universe", "u.csv", "--universe-size", "600", "--symbols", "3",
                        "--lookback-days", "400", "--rate-limit", "40/1s", "--out", "out",
                    ],
                    in: dir,
                    environment: ["SIM_KEY": Self.key]
                )
                #expect(run.status == 0, "\(run.stderr)")
                // The provider's own count: never more than the budget, and every request carried the key.
                let stats = try #require(try await Self.stats(port))
                let received = try #require(Self.number(stats["requests"]))
                #expect(received <= 30 && received >= 6)
                #expect(Self.number(stats["unauthorized"]) == 0)

                let folder = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("out").path).first
                )
                let file = dir.appendingPathComponent("out/\(folder)/baseline.json")
                let text = try String(contentsOf: file, encoding: .utf8)
                let doc = try JSONValue.parse(Data(text.utf8))
                #expect(Self.number(doc["requestsSent"]) == received)
                #expect(Self.number(doc["maxRequests"]) == 30)
                for mode in ["sequential", "parallel"] {
                    let m = try #require(doc[mode], "\(mode) ran")
                    #expect((Self.number(m["requests"]) ?? 0) > 0)
                    #expect(m["bottleneck"] != nil)
                    // 400 days at 100 per chunk and 120 bars per page: a handful of requests per symbol, so a
                    // budget of 15 per mode completes at least one symbol and projects the universe from it.
                    let projection = try #require(m["projection"], "\(mode) projects")
                    #expect(Self.number(projection["universe"]) == 600)
                    let perSymbol = try #require(Self.number(projection["requestsPerSymbol"]))
                    #expect(Self.number(projection["requests"]) == (perSymbol * 600).rounded(.up))
                    // At 40 requests/s the rate limit bounds the projection from below.
                    let seconds = try #require(Self.number(projection["seconds"]))
                    #expect(seconds >= (perSymbol * 600) / 40 * 0.99)
                }
                #expect(run.stdout.contains("projection for 600 symbols"))
                #expect(run.stdout.contains("budget 30 requests"))
                for output in [run.stdout, run.stderr, text] { #expect(!output.contains(Self.key)) }
            }
        }

        @Test func aProviderThatRefusesTheKeyIsNamedAndNothingIsRetried() async throws {
            try await Self.withProviderSim("--rate-limit none --api-key-env SIM_KEY") { port, dir in
                try "AAA\n".write(to: dir.appendingPathComponent("u.csv"), atomically: true, encoding: .utf8)
                let run = try await CLITests.preflight(
                    [
                        "baseline", "--provider", "http://127.0.0.1:\(port)", "--max-requests", "10", "--universe",
                        "u.csv", "--symbols", "1", "--mode", "sequential", "--out", "out",
                    ],
                    in: dir
                )
                #expect(run.status == 1, "a baseline that completed nothing fails: \(run.stderr)")
                #expect(run.stdout.contains("refused us (HTTP 401)"), "\(run.stdout)")
                #expect(Self.number(try #require(try await Self.stats(port))["unauthorized"]) == 1)
            }
        }

        @Test(arguments: [
            ["--provider", "http://127.0.0.1:9", "--universe", "u.csv"],  // no budget
            ["--provider", "http://127.0.0.1:9", "--max-requests", "5"],  // no universe
            ["--provider", "http://user:pw@127.0.0.1:9", "--max-requests", "5", "--universe", "u.csv"],
            ["--api-key-env", "SIM_KEY"],  // a key for the simulator
            ["--provider", "http://127.0.0.1:9", "--max-requests", "0", "--universe", "u.csv"],
            // A key variable that is not set: said before anything is sent.
            [
                "--provider", "http://127.0.0.1:9", "--max-requests", "5", "--universe", "u.csv", "--api-key-env",
                "PREFLIGHT_TEST_UNSET_KEY",
            ],
        ])
        func aBaselineWithoutABudgetOrWithCredentialsInTheURLIsAUsageError(_ arguments: [String]) async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let run = try await CLITests.preflight(["baseline"] + arguments, in: dir)
            #expect(run.status == 2, "\(arguments): \(run.stderr)")
            #expect(!run.stderr.contains("pw@"), "credentials are not echoed")
        }
    }
}
