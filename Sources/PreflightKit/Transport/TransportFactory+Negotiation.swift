import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PreflightCore

extension TransportFactory {
    /// `http.version: "auto"` made concrete for a run, once, before its probe and its load (SPEC §15).
    ///
    /// Over TLS: one handshake offering `h2` and `http/1.1` by ALPN; the run speaks what the server chose, and
    /// HTTP/1.1 when it chose nothing (as browsers, curl and k6 do). Without TLS: HTTP/1.1, because h2c has no
    /// negotiation (RFC 9113 removed the `Upgrade` dance) and is spoken with prior knowledge, `"version": "2"`.
    /// A target that cannot be reached gives HTTP/1.1 and says why; its requests then fail as they would.
    ///
    /// Per run, not per connection: every connection of a run speaks one protocol, so its figures describe one.
    public func negotiated() async -> (factory: TransportFactory, reason: String?) {
        guard http.version == .auto else { return (self, nil) }
        var resolved = self
        let (version, reason) = await negotiateByALPN()
        resolved.http.version = version
        return (resolved, reason)
    }

    /// A scenario whose `http.version` is `auto` with the version ALPN chose, and the sentence saying so.
    public static func negotiated(_ scenario: Scenario) async -> (scenario: Scenario, reason: String?) {
        guard scenario.http.version == .auto else { return (scenario, nil) }
        let (factory, reason) = await TransportFactory(scenario: scenario).negotiated()
        var resolved = scenario
        resolved.http = factory.http
        return (resolved, reason)
    }

    private func negotiateByALPN() async -> (HTTPVersion, String) {
        guard target.isTLS else {
            return (.http1_1, "http.version auto over plain HTTP: HTTP/1.1 (h2c is spoken with \"version\": \"2\")")
        }
        let endpoint: TargetEndpoint
        do {
            endpoint = try TargetEndpoint(target: target, http: http, alpn: ["h2", "http/1.1"])
        } catch {
            return (.http1_1, "http.version auto: no TLS context (\(error)); HTTP/1.1")
        }
        guard let address = endpoint.address, let tls = endpoint.tls else {
            return (.http1_1, "http.version auto: \(endpoint.resolutionError ?? "no address"); HTTP/1.1")
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answer = loop.makePromise(of: String?.self)
        let timeout = http.connectTimeout
        let hostname = endpoint.serverHostname
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(Int64(timeout * 1e9)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls, serverHostname: hostname)
                    )
                    try channel.pipeline.syncOperations.addHandler(ALPNAnswer(answer))
                }
            }
            .connect(to: address)
        // The handshake gets the connect's time again at most; then the answer is "no answer".
        let timer = loop.scheduleTask(in: .nanoseconds(Int64(2 * timeout * 1e9))) {
            answer.fail(ChannelError.connectTimeout(.nanoseconds(Int64(2 * timeout * 1e9))))
        }
        connected.whenFailure { answer.fail($0) }
        defer {
            timer.cancel()
            connected.whenSuccess { $0.close(promise: nil) }
        }
        do {
            guard let chosen = try await answer.futureResult.get() else {
                return (.http1_1, "http.version auto: ALPN chose no protocol; HTTP/1.1")
            }
            return chosen == "h2"
                ? (.http2, "http.version auto: ALPN chose h2; HTTP/2")
                : (.http1_1, "http.version auto: ALPN chose \(chosen); HTTP/1.1")
        } catch {
            return (.http1_1, "http.version auto: no TLS handshake (connect or handshake failed: \(error)); HTTP/1.1")
        }
    }
}

/// Completes with ALPN's answer once the TLS handshake is done, or fails with the connection's error.
private final class ALPNAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let answer: EventLoopPromise<String?>

    init(_ answer: EventLoopPromise<String?>) { self.answer = answer }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent { answer.succeed(negotiated) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}
