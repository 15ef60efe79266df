import Foundation
import HTTPTypes
import Histogram
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct MockLatencyTests {
    func draws(_ latency: MockSettings.Latency, seed: UInt64 = 42, count: Int = 20_000) -> [Double] {
        let model = MockLatencyModel(latency)
        return (0..<count).map { model.seconds(seed: seed, name: "features", index: $0) }
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted[Int(Double(sorted.count - 1) * p / 100)] }

    @Test func lognormalHitsItsMedianAndP99() {
        let sorted = draws(.lognormal(median: 0.120, p99: 0.300, min: 0.010, max: 2)).sorted()
        #expect(abs(percentile(sorted, 50) - 0.120) <= 0.120 * 0.05)
        #expect(abs(percentile(sorted, 99) - 0.300) <= 0.300 * 0.10)
    }

    @Test func truncationRedrawsInsteadOfClamping() {
        let values = draws(MockSettings().latency)  // the default: median 120 ms, p99 300 ms, in [50 ms, 300 ms]
        #expect(values.allSatisfy { $0 >= 0.050 && $0 <= 0.300 })
        let nearMax = values.filter { $0 > 0.299 }.count
        let nearMin = values.filter { $0 < 0.051 }.count
        #expect(Double(nearMax) / Double(values.count) < 0.02)
        #expect(Double(nearMin) / Double(values.count) < 0.02)
        let sorted = values.sorted()
        #expect(abs(percentile(sorted, 50) - 0.120) <= 0.120 * 0.05)
    }

    @Test func uniformStaysInItsBoundsAndFixedIsFixed() {
        let u = draws(.uniform(min: 0.010, max: 0.020))
        #expect(u.allSatisfy { $0 >= 0.010 && $0 <= 0.020 })
        #expect(abs(u.reduce(0, +) / Double(u.count) - 0.015) < 0.0005)
        #expect(Set(draws(.fixed(0.1), count: 100)) == [0.1])
    }

    @Test func latenciesReplayFromTheSeedWhateverTheVUCount() throws {
        func transport(vus: Int, seed: UInt64) throws -> MockTransport {
            let s = try scenario(
                """
                { "name": "m", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                  "requests": [ { "name": "a", "path": "/a" }, { "name": "b", "path": "/b" } ],
                  "load": { "executor": "constant-vus", "vus": \(vus), "duration": "1s" } }
                """,
                port: 1
            )
            return MockTransport(scenario: s, seed: seed)
        }
        let one = try transport(vus: 1, seed: 7)
        let many = try transport(vus: 50, seed: 7)
        let other = try transport(vus: 1, seed: 8)
        for name in ["a", "b"] {
            let sequence = (0..<1000).map { one.model.seconds(seed: one.seed, name: name, index: $0) }
            #expect(sequence == (0..<1000).map { many.model.seconds(seed: many.seed, name: name, index: $0) })
            #expect(sequence != (0..<1000).map { other.model.seconds(seed: other.seed, name: name, index: $0) })
        }
        let a = (0..<100).map { one.model.seconds(seed: 7, name: "a", index: $0) }
        let b = (0..<100).map { one.model.seconds(seed: 7, name: "b", index: $0) }
        #expect(a != b)
    }

    @Test func theLoaderRejectsImpossibleMockSettings() {
        let base = """
            { "name": "m", "target": { "baseURL": "http://127.0.0.1:1" },
              "requests": [ { "name": "a", "path": "/a" } ], "load": { "executor": "per-vu-iterations" },
              "transport": { "mock": MOCK } }
            """
        let cases: [(String, String, String)] = [
            (
                #"{ "latency": { "median": "100ms", "p99": "50ms" } }"#, "$.transport.mock.latency",
                "p99 must be above the median"
            ),
            (
                #"{ "latency": { "median": "100ms", "p99": "200ms", "min": "5s", "max": "6s" } }"#,
                "$.transport.mock.latency", "min and max leave almost none of the distribution"
            ),
            (
                #"{ "latency": { "distribution": "gamma" } }"#, "$.transport.mock.latency.distribution",
                "must be one of \"lognormal\", \"uniform\", \"fixed\", got \"gamma\""
            ),
            (
                #"{ "responses": { "nope": { "status": 200 } } }"#, "$.transport.mock.responses.nope",
                "no request is named \"nope\""
            ),
            (#"{ "errorRate": 2 }"#, "$.transport.mock.errorRate", "must be <= 1, got 2"),
            (
                #"{ "responses": { "a": { "body": "{{sym}}" } } }"#, "$.transport.mock.responses.a.body",
                "uses {{sym}}, which no data feed or capture defines"
            ),
        ]
        for (mock, path, message) in cases {
            do {
                _ = try ScenarioLoader(environment: [:]).load(
                    data: Data(base.replacingOccurrences(of: "MOCK", with: mock).utf8),
                    file: "m.json",
                    baseDirectory: URL(fileURLWithPath: "/tmp")
                )
                Issue.record("accepted \(mock)")
            } catch {
                #expect(error.problems.contains { $0.path == path && $0.message == message }, "\(error.problems)")
            }
        }
    }
}

extension Serial {
    /// The probe against real loopback sockets set up by the test.
    @Suite struct ProbeTests {
        func probe(port: Int, timeout: String = "2s", missing: String? = nil) async throws -> ProbeResult {
            let s = try scenario(
                """
                { "name": "p", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                  "transport": { "probe": { "timeout": "\(timeout)"\(missing.map { #", "missingStatuses": \#($0)"# } ?? "") } },
                  "requests": [ { "name": "x", "path": "/x" } ], "load": { "executor": "per-vu-iterations" } }
                """,
                port: port
            )
            return await EndpointProbe.probe(s, seed: 1)
        }

        @Test func aClosedPortMeansMock() async throws {
            let port = try await closedPort()
            let result = try await probe(port: port)
            #expect(!result.exists)
            #expect(result.reason == "cannot connect to 127.0.0.1:\(port)")
            #expect(result.error == "connect")
        }

        @Test(arguments: [404, 405, 501])
        func aMissingEndpointMeansMock(_ status: Int) async throws {
            let router = Router()
            router.get("/x") { _, _ in Response(status: .init(code: status)) }
            let result = try await withTestServer(router) { port in try await probe(port: port) }
            #expect(!result.exists)
            #expect(result.reason.hasPrefix("endpoint returned \(status)"))
            #expect(result.status == status)
            // The banner and the report say what to do when the application meant it.
            #expect(
                result.advice?.contains("point transport.probe.request (now \"x\") at a request that succeeds") == true
            )
            #expect(result.advice?.contains("--mode real") == true)
            #expect(result.advice?.contains("transport.probe.missingStatuses (now [404, 405, 501])") == true)
        }

        @Test func missingStatusesSayWhichAnswersMeanNoEndpoint() async throws {
            let router = Router()
            router.get("/x") { _, _ in Response(status: .init(code: 410)) }
            router.get("/y") { _, _ in Response(status: .notFound) }
            try await withTestServer(router) { port in
                let gone = try await probe(port: port, missing: "[410]")
                #expect(!gone.exists)
                #expect(gone.reason == "endpoint returned 410")
                #expect(gone.advice?.contains("(now [410])") == true)
                // Without 410 in the list the same answer is a failing endpoint, tested for real.
                let tested = try await probe(port: port)
                #expect(tested.exists)
                #expect(tested.advice == nil)
            }
            let notFound = Router()
            notFound.get("/x") { _, _ in Response(status: .notFound) }
            let never = try await withTestServer(notFound) { port in try await probe(port: port, missing: "[]") }
            #expect(never.exists)
            #expect(never.reason == "endpoint answered 404")
        }

        /// #32, item 8: `missingStatuses` replaces the default list (the README said `[404, 410]` adds 410); the list
        /// in force is in the report's probe record, so a reader can tell why a 405 counted as real.
        @Test func missingStatusesReplaceTheDefaultAndTheListInForceIsRecorded() async throws {
            let router = Router()
            router.get("/x") { _, _ in Response(status: .methodNotAllowed) }
            try await withTestServer(router) { port in
                let replaced = try await probe(port: port, missing: "[404, 410]")
                #expect(replaced.exists, "405 is not in [404, 410]: a real, failing endpoint")
                #expect(replaced.info.missingStatuses == [404, 410])
                let byDefault = try await probe(port: port)
                #expect(!byDefault.exists)
                #expect(byDefault.info.missingStatuses == [404, 405, 501])
                let encoded = String(decoding: try JSONEncoder().encode(replaced.info), as: UTF8.self)
                #expect(encoded.contains(#""missingStatuses":[404,410]"#), "\(encoded)")
            }
        }

        /// A framework-style API: an unknown route and an unknown item on a known route both answer 404, with
        /// different bodies.
        static func frameworkRouter() -> Router<BasicRequestContext> {
            let router = Router()
            router.get("/items/:id") { _, context -> Response in
                let id = context.parameters.get("id") ?? ""
                return Response(
                    status: .notFound,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"detail":"unknown item \#(id)"}"#))
                )
            }
            router.get("/**") { _, _ -> Response in
                Response(
                    status: .notFound,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"detail":"Not Found"}"#))
                )
            }
            return router
        }

        func probe(port: Int, path: String, base: String = "") async throws -> ProbeResult {
            let s = try scenario(
                """
                { "name": "p", "target": { "baseURL": "http://127.0.0.1:${PORT}\(base)" },
                  "data": { "id": ["A1", "B2"] },
                  "requests": [ { "name": "x", "path": "\(path)" } ], "load": { "executor": "per-vu-iterations" } }
                """,
                port: port
            )
            return await EndpointProbe.probe(s, seed: 1)
        }

        @Test func anApplications404ForAnUnknownItemOnAKnownRouteIsReal() async throws {
            let result = try await withTestServer(Self.frameworkRouter()) { port in
                try await probe(port: port, path: "/items/{{id}}")
            }
            #expect(result.exists)
            #expect(result.reason.hasPrefix("route exists: the application answered 404 for this resource"))
            #expect(result.decoys?.count == 2)
            #expect(result.decoys?.allSatisfy { $0.status == 404 } == true)
            #expect(result.bodySHA256 != result.decoys?.last?.bodySHA256)
        }

        @Test func aRouteThatDoesNotExistIsMockEvenWhenTheServerAnswersJSON() async throws {
            let result = try await withTestServer(Self.frameworkRouter()) { port in
                try await probe(port: port, path: "/nothing/here/{{id}}")
            }
            #expect(!result.exists)
            #expect(result.reason.contains("as does a path that cannot exist"))
        }

        @Test func aStaticServerWithOne404PageForEveryPathIsMock() async throws {
            let router = Router()
            router.get("/**") { request, _ -> Response in
                Response(
                    status: .notFound,
                    headers: [.contentType: "text/html"],
                    body: .init(
                        byteBuffer: ByteBuffer(string: "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>")
                    )
                )
            }
            let result = try await withTestServer(router) { port in try await probe(port: port, path: "/items/{{id}}") }
            #expect(!result.exists)
        }

        @Test func blankingMasksIdsBeforePathSegmentsSoAUUIDHoldingASegmentStaysWhole() {
            let a = Array(#"{"error":"no route for /v2/items/B2","id":"3F2504E0-4F89-11D3-9AB2-0305E82C3301"}"#.utf8)
            let b = Array(
                #"{"error":"no route for /preflight-probe-x1","id":"1A2B3C4D-0000-1111-2222-333344445555"}"#.utf8
            )
            #expect(
                EndpointProbe.normalized(a, target: "/v2/items/B2", token: "preflight-probe-x1")
                    == EndpointProbe.normalized(b, target: "/preflight-probe-x1", token: "preflight-probe-x1")
            )
        }

        @Test func aPageThatEchoesThePathStillCountsAsTheSameAnswer() async throws {
            let router = Router()
            router.get("/**") { request, _ -> Response in
                Response(
                    status: .notFound,
                    headers: [.contentType: "application/json"],
                    body: .init(
                        byteBuffer: ByteBuffer(
                            string: #"{"error":"no route for \#(request.uri.path)","id":"\#(UUID().uuidString)"}"#
                        )
                    )
                )
            }
            let result = try await withTestServer(router) { port in
                try await probe(port: port, path: "/v2/items/{{id}}")
            }
            #expect(!result.exists)
        }

        @Test(arguments: [200, 401, 403, 429, 500, 503])
        func anyOtherAnswerMeansReal(_ status: Int) async throws {
            let router = Router()
            router.get("/x") { _, _ in Response(status: .init(code: status)) }
            let result = try await withTestServer(router) { port in try await probe(port: port) }
            #expect(result.exists)
            #expect(result.reason == "endpoint answered \(status)")
            #expect(result.latencyMs != nil)
        }

        @Test func noAnswerWithinTheTimeoutMeansMock() async throws {
            let router = Router()
            router.get("/x") { _, _ in
                try await Task.sleep(for: .seconds(3))
                return "late"
            }
            let result = try await withTestServer(router) { port in try await probe(port: port, timeout: "300ms") }
            #expect(!result.exists)
            #expect(result.reason == "no answer within 300ms")
        }

        /// A port that was just free: bound, then released.
        func closedPort() async throws -> Int {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            let port = channel.localAddress?.port ?? 0
            try await channel.close()
            return port
        }
    }
}

extension Serial {
    /// The mock transport under load: timers on the event loops, no thread per request.
    @Suite struct MockLoadTests {
        @Test func fiveThousandMockedRequestsPerSecondWithFifteenHundredInFlight() async throws {
            let s = try scenario(
                """
                { "name": "mockload", "target": { "baseURL": "http://127.0.0.1:1" },
                  "transport": { "mode": "mock", "mock": { "latency": { "distribution": "fixed", "value": "300ms" } } },
                  "requests": [ { "name": "a", "path": "/a", "checks": [ { "status": 200 } ] } ],
                  "load": { "executor": "constant-arrival-rate", "rate": 5000, "duration": "2s",
                            "preAllocatedVUs": 1600, "maxVUs": 2000 } }
                """,
                port: 1
            )
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let runner = LoadRunner(
                scenario: s,
                transport: MockTransport(scenario: s, seed: 3),
                options: RunOptions(seed: 3, eventLoops: 2),
                logger: logger
            )
            let result = try await runner.run(control: RunControl())
            #expect(abs(result.metrics.totalRequests - 10_000) <= 300)
            #expect(result.metrics.droppedIterations == 0)
            #expect(result.metrics.vusPeak >= 1200, "peak in flight \(result.metrics.vusPeak)")
            #expect(result.metrics.requests[0].checksPassed == [result.metrics.totalRequests])
            let p50 = Double(result.metrics.requests[0].latency().uncorrected.valueAtPercentile(50)) / 1000
            #expect(p50 >= 299 && p50 < 400, "median \(p50) ms")
        }
    }
}

extension Serial {
    /// The shipped scenarios' mock responses are shaped like the reference API's, so their checks pass in mock mode.
    @Suite struct ShippedScenarioMockTests {
        @Test(arguments: [
            "cached_symbol.json", "uncached_symbols.json", "scheduler_health.json", "backfill_journey.json",
        ])
        func checksPassOnTheMock(_ file: String) async throws {
            let path = SchemaTests.scenarios.appendingPathComponent(file).path
            var s = try ScenarioLoader(variables: ["DURATION": "1s"], environment: [:]).load(file: path)
            s.transport.mode = .mock
            s.warmup = nil
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let runner = LoadRunner(
                scenario: s,
                transport: MockTransport(scenario: s, seed: 11),
                options: RunOptions(seed: 11, eventLoops: 2),
                logger: logger
            )
            let result = try await runner.run(control: RunControl())
            #expect(result.metrics.totalRequests > 15)
            for request in result.metrics.requests {
                #expect(request.checksFailed.allSatisfy { $0 == 0 }, "\(request.checksFailed)")
                #expect(request.checksPassed.allSatisfy { $0 == request.checksPassed[0] && $0 > 0 })
            }
        }
    }
}
