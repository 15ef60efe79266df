import Foundation
import Histogram
import Hummingbird
import HummingbirdHTTP2
import HummingbirdTLS
import NIOSSL
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// `http.version: "auto"` (SPEC §15): ALPN chooses, once per run, before the probe.
    @Suite struct HTTP2AutoTests {
        func tls() throws -> TLSConfiguration {
            let (cert, key) = try TLSFixture.make()
            return TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
        }

        func autoScenario(_ scheme: String, port: Int) throws -> Scenario {
            try scenario(
                """
                { "name": "auto", "target": { "baseURL": "\(scheme)://127.0.0.1:${PORT}" },
                  "http": { "version": "auto", "insecureSkipVerify": true },
                  "requests": [ { "name": "item", "path": "/item/{{iteration}}", "checks": [ { "status": 200 } ] } ],
                  "load": { "executor": "shared-iterations", "vus": 4, "iterations": 40 } }
                """,
                port: port
            )
        }

        @Test func overTLSAServerOfferingH2GetsHTTP2() async throws {
            let counter = StreamCounter()
            let router = HTTP2Tests().router(counter)
            try await withServer(router, server: try .http2Upgrade(tlsConfiguration: tls())) { port in
                let (s, reason) = await TransportFactory.negotiated(try autoScenario("https", port: port))
                #expect(s.http.version == .http2)
                #expect(reason?.contains("ALPN chose h2") == true, "\(reason ?? "")")
                let r = try await runScenario(s).metrics.requests[0]
                #expect(r.byStatus[200]?.corrected.totalCount == 40)
                #expect(r.http2 == 40)
            }
        }

        @Test func overTLSAnHTTP1OnlyServerGetsHTTP1NotAnError() async throws {
            let counter = StreamCounter()
            let router = HTTP2Tests().router(counter)
            try await withServer(router, server: try .tls(.http1(), tlsConfiguration: tls())) { port in
                let (s, reason) = await TransportFactory.negotiated(try autoScenario("https", port: port))
                #expect(s.http.version == .http1_1)
                #expect(reason?.contains("HTTP/1.1") == true, "\(reason ?? "")")
                let r = try await runScenario(s).metrics.requests[0]
                #expect(r.byStatus[200]?.corrected.totalCount == 40)
                #expect(r.http2 == 0)
            }
        }

        @Test func withoutTLSOrWithoutAServerItIsHTTP1AndSaysWhy() async throws {
            let plain = await TransportFactory.negotiated(try autoScenario("http", port: 1))
            #expect(plain.scenario.http.version == .http1_1)
            #expect(plain.reason?.contains("plain HTTP") == true)
            let down = await TransportFactory.negotiated(try autoScenario("https", port: freePort()))
            #expect(down.scenario.http.version == .http1_1)
            #expect(down.reason?.contains("failed") == true, "\(down.reason ?? "")")
            let asked = await TransportFactory.negotiated(
                try HTTP2Tests().h2Scenario(
                    "https",
                    port: 1,
                    load: #"{ "executor": "shared-iterations", "vus": 1, "iterations": 1 }"#
                )
            )
            #expect(asked.scenario.http.version == .http2 && asked.reason == nil, "a version asked for is kept")
        }

        @Test func theRunCommandNegotiatesBeforeItsProbeAndTheReportSaysWhatWasChosen() async throws {
            let counter = StreamCounter()
            let router = HTTP2Tests().router(counter)
            try await withServer(router, server: try .http2Upgrade(tlsConfiguration: tls())) { port in
                let dir = try CLITests.tempDir()
                defer { try? FileManager.default.removeItem(at: dir) }
                let file = try CLITests.write(
                    """
                    { "name": "auto", "target": { "baseURL": "https://127.0.0.1:\(port)" },
                      "http": { "version": "auto", "insecureSkipVerify": true },
                      "requests": [ { "name": "item", "path": "/item/{{iteration}}" } ],
                      "load": { "executor": "shared-iterations", "vus": 2, "iterations": 10 },
                      "thresholds": { "http_req_failed": ["rate<0.01"] } }
                    """,
                    to: dir
                )
                let finished = try await CLITests.preflight(["run", file, "--out", "reports", "--quiet"], in: dir)
                #expect(finished.status == 0, "\(finished.stderr)")
                let report = try #require(try CLITests.reports(in: dir).first)
                #expect(report.transport.mode == .real)
                #expect(report.transport.reason.contains("ALPN chose h2"), "\(report.transport.reason)")
                #expect(report.requests.first?.protocol == "HTTP/2")
                #expect(counter.requests.values.reduce(0, +) >= 10, "the probe and the 10 requests")
            }
        }
    }
}
