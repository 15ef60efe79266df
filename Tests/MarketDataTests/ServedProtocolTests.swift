import Foundation
import Hummingbird
import Logging
import Testing

@testable import MarketData

extension MarketDataSerial {
    /// `serve --http2` and `--tls-cert/--tls-key` (SPEC §15: the reference API speaks HTTP/2 too), checked with
    /// Debian's curl (built with nghttp2) as an independent client.
    @Suite struct ServedProtocolTests {
        /// Runs a program and returns its exit status and standard output.
        static func run(_ argv: [String]) throws -> (status: Int32, out: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = argv
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }

        /// A self-signed certificate and key for localhost, made by openssl for this test.
        static func certificate() throws -> (cert: String, key: String) {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let cert = dir.appendingPathComponent("cert.pem").path
            let key = dir.appendingPathComponent("key.pem").path
            let made = try run([
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert,
            ])
            try #require(made.status == 0, "openssl could not make a certificate")
            return (cert, key)
        }

        /// Serves the API as `served` on a free port while `body` runs.
        func withServer(_ served: ServedProtocol, _ body: @Sendable (Int) async throws -> Void) async throws {
            var configuration = MarketDataConfiguration(databasePath: temporaryDatabase())
            configuration.port = 0
            configuration.symbols = ["AAPL"]
            configuration.demoData = true
            configuration.served = served
            var logger = Logger(label: "served-protocol")
            logger.logLevel = .critical
            let store = try MarketStore(path: temporaryDatabase())
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = try await buildMarketDataApplication(
                configuration: configuration,
                store: store,
                onListening: { port in continuation.yield(port) },
                logger: logger
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService(gracefulShutdownSignals: []) }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                try await body(port)
                group.cancelAll()
            }
        }

        /// What curl got: the HTTP version it spoke, and the body.
        static func curl(_ options: [String], _ url: String) throws -> (version: String, body: String) {
            let r = try run(["curl", "-s", "--max-time", "10", "-w", "\n%{http_version}"] + options + [url])
            let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
            return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
        }

        @Test func h2cServesHTTP2WithPriorKnowledge() async throws {
            try await withServer(.h2c) { port in
                let r = try Self.curl(
                    ["--http2-prior-knowledge"],
                    "http://127.0.0.1:\(port)/api/v1/features/quant/AAPL"
                )
                #expect(r.version == "2")
                #expect(r.body.contains(#""symbol":"AAPL""#))
            }
        }

        @Test func overTLSAnH2ClientGetsHTTP2AndAnHTTP1ClientHTTP1() async throws {
            let (cert, key) = try Self.certificate()
            try await withServer(.http2TLS(certificate: cert, key: key)) { port in
                let url = "https://127.0.0.1:\(port)/api/v1/features/quant/AAPL"
                let h2 = try Self.curl(["-k", "--http2"], url)
                #expect(h2.version == "2")
                #expect(h2.body.contains(#""symbol":"AAPL""#))
                let h1 = try Self.curl(["-k", "--http1.1"], url)
                #expect(h1.version == "1.1", "ALPN falls back to HTTP/1.1")
                #expect(h1.body.contains(#""symbol":"AAPL""#))
            }
            try await withServer(.http1TLS(certificate: cert, key: key)) { port in
                let r = try Self.curl(["-k"], "https://127.0.0.1:\(port)/livez")
                #expect(r.version == "1.1")
            }
        }

        @Test func anUnreadableCertificateIsAnErrorNamingTheFile() throws {
            #expect {
                _ = try ServedProtocol.http2TLS(certificate: "/nonexistent/cert.pem", key: "/nonexistent/key.pem")
                    .serverBuilder()
            } throws: { error in
                "\(error)".contains("/nonexistent/cert.pem")
            }
        }
    }
}
