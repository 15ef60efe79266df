import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct SeedTests {
    @Test func injectedMockErrorsDependOnTheSeed() throws {
        let s = try ScenarioLoader(environment: [:]).load(
            data: Data(
                """
                { "name": "m", "target": { "baseURL": "http://127.0.0.1:9" },
                  "transport": { "mode": "mock", "mock": { "errorRate": 0.25 } },
                  "requests": [ { "name": "x", "path": "/x" } ], "load": { "executor": "per-vu-iterations" } }
                """.utf8
            ),
            file: "m.json",
            baseDirectory: URL(fileURLWithPath: "/tmp")
        )
        let draws = [1, 2, 7].map { seed in
            let mock = MockTransport(scenario: s, seed: UInt64(seed))
            return (0..<1000).map { mock.failsInjected(name: "x", index: $0) }
        }
        #expect(Set(draws.map { $0.filter { $0 }.count }).count > 1, "the error counts do not depend on the seed")
        #expect(draws[0] != draws[1] && draws[1] != draws[2])
        for d in draws { #expect(abs(Double(d.filter { $0 }.count) / 1000 - 0.25) < 0.05) }
        // Replay: the same seed draws the same errors.
        let again = MockTransport(scenario: s, seed: 1)
        #expect((0..<1000).map { again.failsInjected(name: "x", index: $0) } == draws[0])
    }

    @Test func randomSeedsSurviveAJSONReaderThatUsesDoubles() {
        #expect(PreflightInfo.maxSeed == 9_007_199_254_740_991)
        #expect(UInt64(Double(PreflightInfo.maxSeed)) == PreflightInfo.maxSeed)
    }
}

extension Serial {
    @Suite struct UniqueProbeTests {
        @Test func theProbeNeverSendsAUniqueValueTheRunSendsAgain() async throws {
            let seen = NIOLockedValueBox<[String]>([])
            let router = Router()
            router.get("/u/:v") { _, context -> String in
                let v = context.parameters.get("v") ?? ""
                seen.withLockedValue { $0.append(v) }
                return "ok"
            }
            try await withTestServer(router) { port in
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "pf-unique-\(UUID().uuidString)"
                )
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let file = dir.appendingPathComponent("u.json")
                try """
                { "name": "u", "target": { "baseURL": "http://127.0.0.1:\(port)" },
                  "data": { "v": { "values": ["a", "b", "c", "d"], "order": "unique" } },
                  "requests": [ { "name": "g", "path": "/u/{{v}}" } ],
                  "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 10 }, "thresholds": {} }
                """.write(to: file, atomically: true, encoding: .utf8)
                var options = RunCommandOptions(paths: [file.path])
                options.outDirectory = dir.appendingPathComponent("reports").path
                options.seed = 1
                options.eventLoops = 1
                var logger = Logger(label: "t")
                logger.logLevel = .critical
                let console = Console(out: { _ in }, errRaw: { _ in }, errIsTerminal: false)
                _ = await RunCommand(options: options, console: console, logger: logger).run(control: RunControl())
            }
            let values = seen.withLockedValue { $0 }
            #expect(values.count == 4, "\(values)")  // the probe's d, then a, b, c
            #expect(Set(values).count == values.count, "a unique value was sent twice: \(values)")
        }

        @Test func progressCountsAThinkingVUAsActive() async throws {
            let seen = NIOLockedValueBox<[Int]>([])
            try await withTestServer(countingRouter()) { port in
                let s = try scenario(
                    """
                    { "name": "think", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "ok", "path": "/ok" } ],
                      "load": { "executor": "constant-vus", "vus": 1, "duration": "3s", "thinkTime": "200ms" } }
                    """,
                    port: port
                )
                var logger = Logger(label: "t")
                logger.logLevel = .critical
                let runner = LoadRunner(
                    scenario: s,
                    transport: try TransportFactory(scenario: s).real(),
                    options: RunOptions(
                        seed: 1,
                        eventLoops: 1,
                        progress: { p in seen.withLockedValue { $0.append(p.activeVUs) } }
                    ),
                    logger: logger
                )
                _ = try await runner.run(control: RunControl())
            }
            let vus = seen.withLockedValue { $0 }
            #expect(!vus.isEmpty)
            // Before, the instant's count read 0 nearly always (the VU spends 200 ms thinking per ~1 ms request).
            #expect(vus.allSatisfy { $0 <= 1 }, "\(vus)")
            #expect(vus.filter { $0 == 1 }.count * 2 > vus.count, "\(vus)")
        }

        @Test func aLightArrivalRateRunWarnsOfNoBusyVUs() async throws {
            let result = try await withTestServer(countingRouter()) { port in
                let s = try scenario(
                    """
                    { "name": "light", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "ok", "path": "/ok" } ],
                      "load": { "executor": "constant-arrival-rate", "rate": 5, "duration": "2s", "preAllocatedVUs": 20, "maxVUs": 20 } }
                    """,
                    port: port
                )
                return try await runScenario(s)
            }
            #expect(result.metrics.iterations >= 9)
            #expect(!result.warnings.contains { $0.contains("VUs were in use") }, "\(result.warnings)")
        }
    }
}
