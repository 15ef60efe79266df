import Foundation
import Histogram
import Hummingbird
import HummingbirdTLS
import NIOSSL
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Where each request's time goes (SPEC §15, #28): k6's timing phases on the HTTP/1.1 transport.
struct PhaseUnitTests {
    @Test func phasesAreTrendsInMillisecondsFilteredByName() throws {
        for phase in Phase.allCases {
            #expect(phase.metric.kind == .trend)
            #expect(phase.metric.unit == .milliseconds)
            #expect(phase.metric.tags == ["name"])
            #expect(phase.metric.phase == phase)
        }
        #expect(Metric.httpReqDuration.phase == nil)
        let spec = try ThresholdSpec.parse(
            metric: "http_req_waiting{name:features}",
            expression: "p(95)<50",
            requestNames: ["features"]
        ).get()
        #expect(spec.selector == .client(.httpReqWaiting, tags: [ThresholdSpec.Tag(key: "name", value: "features")]))
        #expect(throws: (any Error).self) {
            try ThresholdSpec.parse(metric: "http_req_waiting{status:200}", expression: "p(95)<50", requestNames: nil)
                .get()
        }
    }

    @Test func phaseTimesAddUpAndSumAcrossRedirectHops() {
        var a = PhaseTimes()
        a.connecting = 100
        a.waiting = 2_000
        var b = PhaseTimes()
        b.sending = 5
        b.waiting = 1_000
        b.receiving = 7
        a.add(b)
        #expect(a.total == 3_112)
        #expect(a[.waiting] == 3_000)
        var metrics = RequestMetrics(checkCount: 0)
        metrics.record(a)
        #expect(metrics.phases.allSatisfy { $0.totalCount == 1 })
        #expect(metrics.phases[Phase.waiting.rawValue].max == 3)  // µs
    }
}

extension Serial {
    @Suite struct TimingPhaseTests {
        /// A scenario of 3 VUs × 8 iterations against `/slow` (20 ms before the answer, then 4 kB); `close`: the
        /// server closes the connection after each answer, so each VU's later requests open a new one.
        func slowScenario(_ scheme: String, port: Int, close: Bool) throws -> Scenario {
            try scenario(
                """
                { "name": "phases", "target": { "baseURL": "\(scheme)://127.0.0.1:${PORT}" },
                  "http": { "insecureSkipVerify": true },
                  "requests": [ { "name": "slow", "path": "/slow\(close ? "?close=1" : "")" } ],
                  "load": { "executor": "per-vu-iterations", "vus": 3, "iterations": 8 } }
                """,
                port: port
            )
        }

        func slowRouter() -> Router<BasicRequestContext> {
            let router = Router()
            router.get("slow") { request, _ -> Response in
                try await Task.sleep(for: .milliseconds(20))
                var headers: HTTPFields = [.contentType: "text/plain"]
                if request.uri.queryParameters["close"] != nil { headers[.connection] = "close" }
                return Response(
                    status: .ok,
                    headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: String(repeating: "x", count: 4096)))
                )
            }
            return router
        }

        /// Values above zero in a histogram.
        func nonZero(_ h: LatencyHistogram) -> UInt64 {
            h.recordedValues().filter { $0.value > 0 }.reduce(0) { $0 + $1.count }
        }

        /// What every run must show: each answered request in every phase; the phases' means add up to the mean
        /// latency from the send (within the µs rounding of each phase and the callback's turn); the server's
        /// 20 ms in `waiting`. Each VU's connection is opened before the run (its first request does not pay for
        /// it); with `close`, each later request opens one and pays connecting (and TLS) itself: 3 VUs × 7.
        func expectPhases(_ result: RunResult, tls: Bool, close: Bool) throws {
            let r = result.metrics.requests[0]
            #expect(r.count == 24)
            for phase in Phase.allCases {
                #expect(r.phases[phase.rawValue].totalCount == 24, "\(phase)")
            }
            // The server cannot read a request before it is written: sending + waiting of every request holds its
            // 20 ms (where a busy machine preempts the client between its write and the timestamp after it, the
            // phases still add up, but part of the server's time shows as sending).
            let waiting = r.phases[Phase.waiting.rawValue]
            let sending = r.phases[Phase.sending.rawValue]
            #expect(waiting.mean + sending.mean >= 19_500, "sending \(sending.mean) µs + waiting \(waiting.mean) µs")
            #expect(waiting.max >= 19_500)
            let opened: UInt64 = close ? 21 : 0
            #expect(nonZero(r.phases[Phase.connecting.rawValue]) == opened)
            #expect(nonZero(r.phases[Phase.tlsHandshaking.rawValue]) == (tls ? opened : 0))
            #expect(
                nonZero(r.phases[Phase.blocked.rawValue]) <= opened,
                "a VU owns its connection: blocked only while one opens"
            )
            let phaseMeans = r.phases.reduce(0.0) { $0 + $1.mean }
            let latency = r.latency().uncorrected.mean
            #expect(
                abs(phaseMeans - latency) <= 0.03 * latency + 200,
                "phases add up to \(phaseMeans) µs, the latency is \(latency) µs"
            )
        }

        @Test func overPlainHTTPThePhasesAddUpAndConnectingIsPaidByTheRequestThatOpensAConnection() async throws {
            try await withTestServer(slowRouter()) { port in
                for close in [false, true] {
                    let result = try await runScenario(try slowScenario("http", port: port, close: close))
                    try expectPhases(result, tls: false, close: close)
                }
            }
        }

        @Test func overTLSTheHandshakeIsItsOwnPhaseOnTheRequestThatOpensAConnection() async throws {
            let (cert, key) = try TLSFixture.make()
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            try await withTestServer(slowRouter(), server: try .tls(tlsConfiguration: tls)) { port in
                for close in [false, true] {
                    let result = try await runScenario(try slowScenario("https", port: port, close: close))
                    #expect(result.metrics.requests[0].errors.reduce(0, +) == 0)
                    try expectPhases(result, tls: true, close: close)
                }
            }
        }

        @Test func aPhaseThresholdGatesAndTheReportsShowWhereTheTimeWent() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            try await withTestServer(slowRouter()) { port in
                let file = try CLITests.write(
                    """
                    { "name": "phases", "target": { "baseURL": "http://127.0.0.1:\(port)" },
                      "requests": [ { "name": "slow", "path": "/slow" } ],
                      "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 5 },
                      "thresholds": { "http_req_waiting{name:slow}": ["p(95)>=19"],
                                      "http_req_connecting": ["max<1000"] } }
                    """,
                    to: dir
                )
                let run = try await CLITests.preflight(["run", file, "--out", "reports"], in: dir)
                #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
                #expect(run.stdout.contains("p95 by phase: waiting"), "\(run.stdout)")
                let report = try #require(try CLITests.reports(in: dir).first)
                let phases = try #require(report.requests.first?.phases)
                #expect(Set(phases.keys) == Set(Phase.allCases.map(\.metric.rawValue)))
                #expect((phases["http_req_waiting"]?.p50 ?? 0) >= 19.5)
                for phase in Phase.allCases {
                    #expect(report.summary(phase.metric)?[.percentile(95)] != nil, "metrics.\(phase.metric.rawValue)")
                }
                #expect(report.phaseHistograms?["slow"]?["http_req_receiving"]?.count == 10)
                let folder = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("reports").path)
                        .first { $0 != "index.html" }
                )
                let html = try String(
                    contentsOf: dir.appendingPathComponent("reports/\(folder)/report.html"),
                    encoding: .utf8
                )
                #expect(html.contains("Where the time went"))
                #expect(html.contains("class=\"phasebar\""))
                // Failing it: the same run with a bound the server's 20 ms cannot keep.
                let strict = try CLITests.write(
                    try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).replacingOccurrences(
                        of: "p(95)>=19",
                        with: "p(95)<5"
                    ),
                    to: dir
                )
                let failing = try await CLITests.preflight(["run", strict, "--out", "strict"], in: dir)
                #expect(failing.status == 99, "\(failing.stdout)")
            }
        }
    }
}
