import Foundation
import Histogram
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// A request context that knows its connection (an HTTP/2 stream's channel reports its parent's peer address).
struct ConnectionContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The client's port: one per connection.
    let peer: Int

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.port ?? source.channel.parent?.remoteAddress?.port ?? 0
    }
}

/// What the server saw: requests per connection and the most in flight on one connection at once.
final class StreamCounter: Sendable {
    private struct State {
        var requests: [Int: Int] = [:]
        var inFlight: [Int: Int] = [:]
        var peak: [Int: Int] = [:]
    }
    private let state = NIOLockedValueBox(State())

    func began(_ peer: Int) {
        state.withLockedValue { s in
            s.requests[peer, default: 0] += 1
            s.inFlight[peer, default: 0] += 1
            s.peak[peer] = max(s.peak[peer] ?? 0, s.inFlight[peer]!)
        }
    }

    func ended(_ peer: Int) { state.withLockedValue { $0.inFlight[peer, default: 1] -= 1 } }

    var requests: [Int: Int] { state.withLockedValue { $0.requests } }
    var peak: [Int: Int] { state.withLockedValue { $0.peak } }
}

/// Runs a Hummingbird server with `server` (h2c, or HTTP/2 over TLS) on a free loopback port during `body`.
func withServer<Context: RequestContext>(
    _ router: Router<Context>,
    server: HTTPServerBuilder,
    _ body: @Sendable (Int) async throws -> Void
) async throws where Context.Source == ApplicationRequestContextSource {
    var logger = Logger(label: "h2-server")
    logger.logLevel = .critical
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
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

extension Serial {
    /// HTTP/2 on the load path (SPEC §15, #28): swift-nio-http2 streams over shared connections.
    @Suite struct HTTP2Tests {
        func router(_ counter: StreamCounter, delay: Duration = .zero) -> Router<ConnectionContext> {
            let router = Router(context: ConnectionContext.self)
            router.get("item/{id}") { _, context -> String in
                counter.began(context.peer)
                defer { counter.ended(context.peer) }
                if delay > .zero { try await Task.sleep(for: delay) }
                return #"{"id":"\#(context.parameters.get("id") ?? "")","ok":true}"#
            }
            return router
        }

        func h2Scenario(_ scheme: String, port: Int, load: String) throws -> Scenario {
            try scenario(
                """
                { "name": "h2", "target": { "baseURL": "\(scheme)://127.0.0.1:${PORT}" },
                  "http": { "version": "2", "insecureSkipVerify": true },
                  "requests": [ { "name": "item", "path": "/item/{{iteration}}",
                                  "checks": [ { "status": 200 }, { "json": "$.ok", "equals": true } ] } ],
                  "load": \(load) }
                """,
                port: port
            )
        }

        func expectExact(_ result: RunResult, _ count: Int, counter: StreamCounter) {
            let r = result.metrics.requests[0]
            #expect(r.count == count)
            #expect(r.byStatus[200]?.corrected.totalCount == UInt64(count), "\(r.byStatus.keys.sorted())")
            #expect(r.checksPassed == [count, count])
            #expect(
                r.errors.reduce(0, +) == 0,
                "\(ErrorClass.allCases.filter { r.errors[$0.rawValue] > 0 }.map { "\($0.name) \(r.errors[$0.rawValue])" }) retries \(r.goAwayRetries)"
            )
            #expect(counter.requests.values.reduce(0, +) == count)
            #expect(r.phases[Phase.waiting.rawValue].totalCount == UInt64(count))
            // Over HTTP/2 too the phases add up to the latency from the send (blocked now includes waiting for a
            // stream on a shared connection), within each phase's µs rounding and the callback's turn.
            let phaseMeans = r.phases.reduce(0.0) { $0 + $1.mean }
            let latency = r.latency().uncorrected.mean
            #expect(abs(phaseMeans - latency) <= 0.03 * latency + 200, "phases \(phaseMeans) µs, latency \(latency) µs")
        }

        @Test func h2cCarriesAConstantArrivalRateRunWithExactCounts() async throws {
            let counter = StreamCounter()
            try await withServer(router(counter), server: .plaintextHTTP2()) { port in
                let s = try h2Scenario(
                    "http",
                    port: port,
                    load:
                        #"{ "executor": "constant-arrival-rate", "rate": 100, "duration": "2s", "preAllocatedVUs": 10 }"#
                )
                let result = try await runScenario(s)
                expectExact(result, 200, counter: counter)
                #expect(counter.requests.count <= 2, "one connection per event loop: \(counter.requests)")
            }
        }

        @Test func overTLSALPNChoosesH2AndTheRunIsExact() async throws {
            let (cert, key) = try TLSFixture.make()
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            let counter = StreamCounter()
            try await withServer(router(counter), server: try .http2Upgrade(tlsConfiguration: tls)) { port in
                let s = try h2Scenario(
                    "https",
                    port: port,
                    load:
                        #"{ "executor": "constant-arrival-rate", "rate": 100, "duration": "2s", "preAllocatedVUs": 10 }"#
                )
                let result = try await runScenario(s)
                expectExact(result, 200, counter: counter)
                let tlsPhase = result.metrics.requests[0].phases[Phase.tlsHandshaking.rawValue]
                #expect(tlsPhase.max > 0 || counter.requests.count > 0)
            }
        }

        /// nginx ends each connection with a GOAWAY after 50 requests (`keepalive_requests`), as it does in
        /// production: every arrival is answered, none is lost or sent twice.
        @Test(.enabled(if: SharedStoreTests.nginx != nil))
        func nginxsGOAWAYEveryFiftyRequestsLosesNoRequest() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try freePort()
            try """
            worker_processes 1;
            pid \(dir.path)/nginx.pid;
            error_log \(dir.path)/nginx-error.log;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(dir.path)/nginx-body;
                keepalive_requests 50;
                server {
                    listen 127.0.0.1:\(port) http2;
                    location / { default_type application/json; return 200 '{"ok":true}'; }
                }
            }
            """.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
            let nginx = try #require(SharedStoreTests.nginx)
            #expect(try runShell("'\(nginx)' -c '\(dir.path)/nginx.conf' -p '\(dir.path)'") == 0)
            defer { _ = try? runShell("kill $(cat '\(dir.path)/nginx.pid') 2>/dev/null") }
            let s = try h2Scenario(
                "http",
                port: port,
                load: #"{ "executor": "constant-arrival-rate", "rate": 200, "duration": "3s", "preAllocatedVUs": 50 }"#
            )
            let result = try await runScenario(s)
            let r = result.metrics.requests[0]
            // Every arrival is accounted for: answered, or (on a machine too slow for 200/s, as under TSan beside
            // other work: 589 answered, 11 not sent) dropped for want of a free VU or abandoned at the stop; a
            // request lost across a GOAWAY would be none of these, or an error.
            let m = result.metrics
            #expect(
                r.count + m.droppedIterations + m.abandonedIterations == 600,
                "\(r.count) answered, \(m.droppedIterations) dropped, \(m.abandonedIterations) abandoned"
            )
            #expect(r.count >= 300, "at least six of nginx's connections, each ended by a GOAWAY")
            #expect(r.byStatus[200]?.corrected.totalCount == UInt64(r.count), "\(r.byStatus.keys.sorted())")
            #expect(r.errors.reduce(0, +) == 0, "\(r.errors)")
            #expect(r.http2 == r.count)
        }

        /// Hummingbird closes each connection gracefully 300 ms after it opened (GOAWAY, PING, GOAWAY with the last
        /// stream, then close). Every arrival is accounted for: answered, an error counted as `reset`, or not sent
        /// (dropped or abandoned, counted) — never missing; and a request the server may have processed is never sent
        /// twice (only streams it refused, above the GOAWAY's last id or never written, go again, counted).
        ///
        /// How many are answered depends on the server, not only on us. Once swift-nio-http2's server has sent its
        /// first GOAWAY (last id 2^31−1) and has no stream open, it is "fully quiesced" and refuses a stream the
        /// client sent before that GOAWAY reached it (`createdStreamAfterGoaway`, a stream error); Hummingbird's
        /// `HTTP2ServerConnectionManager.errorCaught` then closes the whole connection at once, without the second
        /// GOAWAY. The streams still open on it may have been processed, so they are `reset` and not sent again (RFC
        /// 9113 §6.8). Under TSan beside two busy loops this took 125–209 of 400 (most connections ended so; 132 to
        /// 258 answered, counted by instrumenting both sides); on an idle machine about 10.
        @Test func aGracefulServerCloseMidRunLeavesNoRequestUncounted() async throws {
            let counter = StreamCounter()
            var configuration = HTTP2ChannelConfiguration()
            configuration.maxAgeTimeout = .milliseconds(300)
            configuration.gracefulCloseTimeout = .seconds(5)
            try await withServer(
                router(counter, delay: .milliseconds(5)),
                server: .plaintextHTTP2(configuration: configuration)
            ) { port in
                let s = try h2Scenario(
                    "http",
                    port: port,
                    load:
                        #"{ "executor": "constant-arrival-rate", "rate": 200, "duration": "2s", "preAllocatedVUs": 60 }"#
                )
                let result = try await runScenario(s)
                let r = result.metrics.requests[0]
                let m = result.metrics
                // Every arrival is accounted for: sent and recorded, or (on a machine too slow for 200/s, as under
                // TSan beside other work) dropped for want of a free VU or abandoned at the stop. A request lost
                // across a GOAWAY would be none of these.
                #expect(
                    r.count + m.droppedIterations + m.abandonedIterations == 400,
                    "\(r.count) recorded, \(m.droppedIterations) dropped, \(m.abandonedIterations) abandoned"
                )
                let answered = Int(r.byStatus[200]?.corrected.totalCount ?? 0)
                #expect(answered + r.errors[ErrorClass.reset.rawValue] == r.count, "\(answered) answered, \(r.errors)")
                #expect(answered * 4 >= r.count, "a quarter at least are answered: \(answered) of \(r.count)")
                let served = counter.requests.values.reduce(0, +)
                #expect(served >= answered && served <= r.count, "none processed twice: \(served) served")
                #expect(counter.requests.count > 2, "the client opened new connections: \(counter.requests)")
            }
        }

        @Test func aServerThatRefusesH2IsAClearErrorNamingALPNsAnswerNotAMock() async throws {
            let (cert, key) = try TLSFixture.make()
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            let counter = StreamCounter()
            // HTTP/1.1 over TLS only: ALPN never says h2.
            try await withServer(router(counter), server: try .tls(.http1(), tlsConfiguration: tls)) { port in
                var s = try h2Scenario(
                    "https",
                    port: port,
                    load: #"{ "executor": "per-vu-iterations", "vus": 1, "iterations": 3 }"#
                )
                s.transport.mode = .auto
                let probe = await EndpointProbe.probe(s, seed: 1)
                #expect(probe.exists, "a server answered: tested, never mocked")
                #expect(probe.reason.contains("did not accept HTTP/2"), "\(probe.reason)")
                let result = try await runScenario(s)
                let r = result.metrics.requests[0]
                #expect(r.count == 3)
                #expect(r.errors[ErrorClass.tls.rawValue] == 3)
                #expect(
                    result.warnings.contains { $0.contains("asked for h2 by ALPN, it answered") },
                    "\(result.warnings)"
                )
                #expect(counter.requests.isEmpty)
            }
        }

        @Test func sixtyFourVUsMultiplexOverTwoConnections() async throws {
            let counter = StreamCounter()
            try await withServer(router(counter, delay: .milliseconds(50)), server: .plaintextHTTP2()) { port in
                let s = try h2Scenario(
                    "http",
                    port: port,
                    load: #"{ "executor": "per-vu-iterations", "vus": 64, "iterations": 4 }"#
                )
                let result = try await runScenario(s, eventLoops: 2)
                expectExact(result, 256, counter: counter)
                #expect(counter.requests.count == 2, "64 VUs share 2 connections: \(counter.requests)")
                #expect(
                    counter.peak.values.allSatisfy { $0 > 1 && $0 <= 32 },
                    "streams in flight per connection: \(counter.peak)"
                )
                #expect(counter.peak.values.reduce(0, +) > 2, "several streams at once on a connection")
            }
        }
    }
}

/// A self-signed certificate for localhost, made by openssl (installed by `.ci/run`).
enum TLSFixture {
    static func make() throws -> (cert: String, key: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try runShell(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
                + "-keyout '\(key)' -out '\(cert)' >/dev/null 2>&1"
        )
        try #require(made == 0, "openssl could not make a certificate")
        return (cert, key)
    }
}
