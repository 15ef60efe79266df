import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import PreflightCore

/// The HTTP/2 transport (SPEC §15): VUs share a few connections per event loop, each request a stream on one of
/// them, multiplexed up to the server's `SETTINGS_MAX_CONCURRENT_STREAMS`. Framing, HPACK and flow control are
/// swift-nio-http2's (a maintained implementation, fuzzed upstream); this file only chooses a connection, writes a
/// request as HEADERS (+ DATA) and reads the answer's frames into an `HTTPOutcome`.
///
/// Over TLS the connection offers only `h2` by ALPN: a server that answers with another protocol (or none) fails
/// the connection as error class `tls`, and the probe says what ALPN answered. Without TLS it speaks h2c with prior
/// knowledge. Connections live on their event loop, as the VUs that use them do: `http.connections` is per loop.
public struct HTTP2Transport: Transport {
    public var target: TargetURL
    public var address: SocketAddress?
    public var resolutionError: String?
    var tls: NIOSSLContext?
    var serverHostname: String?
    var connectTimeout: Double
    var maxBodyBytes: Int
    /// Connections each event loop opens at most.
    var connectionsPerLoop: Int
    /// The id of each connection's first stream: 1, but a test starts near the end of the ids to see a connection
    /// run out of them.
    var firstStreamID: Int32 = 1
    let pools = PoolRegistry()

    public init(target: TargetURL, http: HTTPSettings) throws {
        self.target = target
        let endpoint = try TargetEndpoint(target: target, http: http, alpn: ["h2"])
        (address, resolutionError, tls, serverHostname) = (
            endpoint.address, endpoint.resolutionError, endpoint.tls, endpoint.serverHostname
        )
        connectTimeout = http.connectTimeout
        maxBodyBytes = http.maxBodyBytes
        connectionsPerLoop = max(1, http.connections)
    }

    /// What the server answered by ALPN when it did not choose h2 (its connections then fail as `tls`).
    public var alpnRefusal: String? { pools.alpnRefusal.withLockedValue { $0 } }

    /// The sentence a report and the probe use for it.
    public static func alpnMessage(_ answer: String) -> String {
        "the server did not accept HTTP/2: asked for h2 by ALPN, it answered \(answer); its connections failed as "
            + "error class tls. Use http.version \"1.1\", or enable HTTP/2 on the server"
    }

    public func makeConnection(on eventLoop: any EventLoop) -> any VUConnection {
        H2VUConnection(pool: pools.pool(on: eventLoop, make: { H2Pool(eventLoop: eventLoop, transport: self) }))
    }

    /// Each event loop's pool, made on that loop the first time one of its VUs asks.
    final class PoolRegistry: Sendable {
        private let pools = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<H2Pool>]>([:])
        /// ALPN's answer when it was not h2, from any loop.
        let alpnRefusal = NIOLockedValueBox<String?>(nil)

        func pool(on eventLoop: any EventLoop, make: () -> H2Pool) -> H2Pool {
            let key = ObjectIdentifier(eventLoop)
            if let bound = pools.withLockedValue({ $0[key] }) { return bound.value }
            let bound = NIOLoopBound(make(), eventLoop: eventLoop)
            pools.withLockedValue { $0[key] = bound }
            return bound.value
        }
    }
}

/// A VU's handle: every request goes to its event loop's pool.
final class H2VUConnection: VUConnection {
    private let pool: H2Pool
    /// The request in flight, so `close` can abandon it.
    private var inFlight: H2Pool.Pending?
    private var closed = false

    init(pool: H2Pool) {
        self.pool = pool
        pool.users += 1
    }

    func send(_ request: PreparedRequest, completion: @escaping (HTTPOutcome) -> Void) {
        let pending = H2Pool.Pending(request: request, askedAt: NIODeadline.now()) { [weak self] outcome in
            self?.inFlight = nil
            completion(outcome)
        }
        inFlight = pending
        pool.enqueue(pending)
    }

    func connect(completion: @escaping (ErrorClass?) -> Void) { pool.warm(completion) }

    /// Abandons the request in flight; the pool closes its connections when its last VU has closed.
    func close() {
        if let pending = inFlight {
            inFlight = nil
            pending.abandon()
        }
        guard !closed else { return }
        closed = true
        pool.users -= 1
        if pool.users == 0 { pool.closeAll() }
    }
}

/// One event loop's HTTP/2 connections and the requests waiting for a stream on one of them.
///
/// Its state and its connections' are `@exclusivity(unchecked)`: touched only on its event loop, no access spanning a
/// call back into it (the HTTP/2 tests passed with the checks on).
final class H2Pool {
    /// A request from its send to its answer.
    final class Pending {
        let request: PreparedRequest
        let askedAt: NIODeadline
        @exclusivity(unchecked) private var completion: ((HTTPOutcome) -> Void)?
        /// Sent again after a GOAWAY refused it (once at most).
        @exclusivity(unchecked) var retried = false
        /// The exchange carrying it, so an abandon can reset its stream.
        @exclusivity(unchecked) var exchange: H2Exchange?
        /// The opening it waited for, when it is the request that opened the connection.
        @exclusivity(unchecked) var opened: (connecting: Int64, tls: Int64)?

        init(request: PreparedRequest, askedAt: NIODeadline, completion: @escaping (HTTPOutcome) -> Void) {
            self.request = request
            self.askedAt = askedAt
            self.completion = completion
        }

        var isDone: Bool { completion == nil }

        func complete(_ outcome: HTTPOutcome) {
            guard let c = completion else { return }
            completion = nil
            exchange = nil
            c(outcome)
        }

        /// Completes with `error`; it is still an HTTP/2 request (the report's protocol counts it so).
        func fail(_ error: ErrorClass) {
            var outcome = HTTPOutcome()
            outcome.error = error
            outcome.http2 = true
            outcome.retriedAfterGoAway = retried
            complete(outcome)
        }

        func abandon() {
            exchange?.cancel()
            var outcome = HTTPOutcome()
            outcome.abandoned = true
            complete(outcome)
        }
    }

    /// One HTTP/2 connection.
    final class Connection {
        @exclusivity(unchecked) var channel: (any Channel)?
        /// Where its streams are written and its frames read, once it speaks h2.
        @exclusivity(unchecked) var handler: H2ConnectionHandler?
        @exclusivity(unchecked) var ready = false
        @exclusivity(unchecked) var active = 0
        /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` (100 until it says, RFC 9113's suggested floor).
        @exclusivity(unchecked) var maxStreams = 100
        /// A GOAWAY came: no new stream; streams above this id were not processed.
        @exclusivity(unchecked) var lastStreamID: HTTP2StreamID?
        @exclusivity(unchecked) var closed = false
        /// When its TCP connect started and ended, and its TLS handshake.
        @exclusivity(unchecked) var connectStartedAt = NIODeadline.now()
        @exclusivity(unchecked) var connectedAt: NIODeadline?
        @exclusivity(unchecked) var handshakenAt: NIODeadline?
        /// Whether a request has been charged for opening it.
        @exclusivity(unchecked) var openingCharged = false

        /// Its stream ids ran out: it takes no new stream and closes when its last one ends.
        @exclusivity(unchecked) var exhausted = false

        var usable: Bool { ready && !closed && lastStreamID == nil && !exhausted && active < maxStreams }
    }

    let eventLoop: any EventLoop
    let transport: HTTP2Transport
    @exclusivity(unchecked) private var connections: [Connection] = []
    @exclusivity(unchecked) private var waiting: [Pending] = []
    @exclusivity(unchecked) private var warmers: [(ErrorClass?) -> Void] = []
    /// VU handles open on this pool; at 0 its connections close (a run's end, a one-shot's answer).
    @exclusivity(unchecked) var users = 0

    init(eventLoop: any EventLoop, transport: HTTP2Transport) {
        self.eventLoop = eventLoop
        self.transport = transport
    }

    /// Opens this loop's connections ahead of the run (as the HTTP/1.1 transport opens each VU's).
    func warm(_ completion: @escaping (ErrorClass?) -> Void) {
        if connections.contains(where: { $0.ready && !$0.closed }) {
            eventLoop.assumeIsolated().execute { completion(nil) }
            return
        }
        warmers.append(completion)
        if !connections.contains(where: { !$0.closed }) { open() }
    }

    /// A request's header block and its size, built once per request index when the request is constant (no
    /// placeholder), as the HTTP/1.1 transport encodes a constant request once.
    @exclusivity(unchecked) private var constantHeaders: [(HPACKHeaders, Int)?] = []

    func headers(for request: PreparedRequest) -> (HPACKHeaders, Int) {
        let i = request.requestIndex
        if request.isConstant, i < constantHeaders.count, let cached = constantHeaders[i] { return cached }
        let built = Self.headers(request.message, target: transport.target)
        if request.isConstant {
            if constantHeaders.count <= i {
                constantHeaders.append(contentsOf: repeatElement(nil, count: i + 1 - constantHeaders.count))
            }
            constantHeaders[i] = built
        }
        return built
    }

    /// The HTTP/2 header block of a message: pseudo-headers, then its fields in lowercase, less the
    /// connection-specific ones that do not exist in HTTP/2 (RFC 9113 §8.2.2; Host is `:authority`).
    static func headers(_ message: RequestMessage, target: TargetURL) -> (HPACKHeaders, Int) {
        var headers = HPACKHeaders()
        headers.add(name: ":method", value: message.method)
        headers.add(name: ":scheme", value: target.isTLS ? "https" : "http")
        headers.add(name: ":authority", value: target.hostHeader)
        headers.add(name: ":path", value: target.basePath + message.path)
        var bytes = 0
        for field in message.headers {
            let name = field.name.lowercased()
            switch name {
            case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host": continue
            default: break
            }
            headers.add(name: name, value: field.value)
            bytes += name.utf8.count + field.value.utf8.count
        }
        if let body = message.body {
            headers.add(name: "content-length", value: String(body.count))
        }
        return (headers, bytes)
    }

    /// Closes every connection; requests still waiting are abandoned.
    func closeAll() {
        let left = waiting
        waiting = []
        for p in left { p.abandon() }
        for c in connections {
            c.closed = true
            c.channel?.close(promise: nil)
        }
        connections = []
    }

    func enqueue(_ pending: Pending) {
        waiting.append(pending)
        dispatch()
    }

    /// Gives waiting requests a stream on the least busy usable connection, opening connections up to the limit.
    private func dispatch() {
        connections.removeAll { $0.closed && $0.active == 0 }
        while let first = waiting.first {
            if first.isDone {
                waiting.removeFirst()
                continue
            }
            if let connection = connections.filter(\.usable).min(by: { $0.active < $1.active }) {
                waiting.removeFirst()
                start(first, on: connection)
                continue
            }
            let opening = connections.filter { !$0.ready && !$0.closed }.count
            if connections.filter({ !$0.closed && $0.lastStreamID == nil && !$0.exhausted }).count
                < transport.connectionsPerLoop
                && opening == 0
            {
                open()
            }
            return
        }
    }

    private func open() {
        let connection = Connection()
        connections.append(connection)
        guard let address = transport.address else {
            connection.closed = true
            eventLoop.assumeIsolated().execute { self.openFailed(connection, .connect) }
            return
        }
        let tls = transport.tls
        let hostname = transport.serverHostname
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(transport.connectTimeout * 1e9)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: hostname)
                        )
                    }
                }
            }
        connection.connectStartedAt = NIODeadline.now()
        bootstrap.connect(to: address).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .failure:
                connection.closed = true
                openFailed(connection, .connect)
            case .success(let channel):
                connection.connectedAt = NIODeadline.now()
                connection.channel = channel
                do {
                    if tls != nil {
                        try channel.pipeline.syncOperations.addHandler(
                            H2HandshakeWatcher(pool: self, connection: connection)
                        )
                    } else {
                        try configure(connection, channel)
                    }
                } catch {
                    channel.close(promise: nil)
                    connection.closed = true
                    openFailed(connection, .connect)
                }
                channel.closeFuture.assumeIsolated().whenComplete { [self] _ in closed(connection) }
            }
        }
    }

    /// The HTTP/2 handler and, above it, ours that writes streams as frames and reads the answers' frames, once
    /// the connection speaks h2 (at once for h2c, after ALPN chose `h2` over TLS). The connection preface goes out
    /// now; streams may open at once.
    ///
    /// No stream channel per request (swift-nio-http2's multiplexer): making one was ~30 % of the CPU per request
    /// in `perf` on `scripts/bench/h2.sh`. Frames, HPACK, the stream and flow-control state machines are still
    /// swift-nio-http2's; ours only numbers the streams and grants the window back (`H2ConnectionHandler`).
    func configure(_ connection: Connection, _ channel: any Channel) throws {
        var settings = NIOHTTP2Handler.ConnectionConfiguration()
        settings.initialSettings = [
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .initialWindowSize, value: H2ConnectionHandler.targetWindow),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ]
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        try channel.pipeline.syncOperations.addHandler(
            NIOHTTP2Handler(mode: .client, connectionConfiguration: settings)
        )
        let handler = H2ConnectionHandler(pool: self, connection: connection, firstStreamID: transport.firstStreamID)
        try channel.pipeline.syncOperations.addHandler(handler)
        connection.handler = handler
        connection.ready = true
        if connection.handshakenAt == nil { connection.handshakenAt = connection.connectedAt }
        let warm = warmers
        warmers = []
        for w in warm { w(nil) }
        dispatch()
    }

    private func openFailed(_ connection: Connection, _ error: ErrorClass) {
        connections.removeAll { $0 === connection }
        let warm = warmers
        warmers = []
        for w in warm { w(error) }
        // Nothing to wait for: the requests waiting for this connection fail as it did.
        if !connections.contains(where: { !$0.closed }) {
            let failed = waiting
            waiting = []
            for p in failed { p.fail(error) }
        }
    }

    /// TLS finished: ALPN must have chosen h2.
    func handshaken(_ connection: Connection, _ channel: any Channel, protocol negotiated: String?) {
        connection.handshakenAt = NIODeadline.now()
        guard negotiated == "h2" else {
            let answer = negotiated.map { "\"\($0)\"" } ?? "with no protocol"
            transport.pools.alpnRefusal.withLockedValue { $0 = answer }
            channel.close(promise: nil)
            connection.closed = true
            openFailed(connection, .tls)
            return
        }
        do { try configure(connection, channel) } catch {
            channel.close(promise: nil)
            connection.closed = true
            openFailed(connection, .tls)
        }
    }

    func goAway(_ connection: Connection, lastStreamID: HTTP2StreamID) {
        connection.lastStreamID = lastStreamID
        dispatch()
    }

    func settings(_ connection: Connection, maxStreams: Int) {
        connection.maxStreams = max(1, maxStreams)
        dispatch()
    }

    private func closed(_ connection: Connection) {
        connection.closed = true
        if !connection.ready { openFailed(connection, .reset) }
        dispatch()
    }

    // MARK: Streams

    private func start(_ pending: Pending, on connection: Connection) {
        guard let handler = connection.handler else { return pending.fail(.reset) }
        connection.active += 1
        if !connection.openingCharged, let connected = connection.connectedAt {
            connection.openingCharged = true
            if connection.connectStartedAt >= pending.askedAt {
                pending.opened = (
                    (connected - connection.connectStartedAt).nanoseconds,
                    ((connection.handshakenAt ?? connected) - connected).nanoseconds
                )
            }
        }
        handler.start(H2Exchange(pending: pending, pool: self, connection: connection))
    }

    /// A stream ended. `unsent`: the server never processed its request (never written, refused, above a
    /// GOAWAY's last stream id), so it goes again once, on another connection; a second time it fails as `reset`.
    func streamEnded(_ pending: Pending, on connection: Connection, unsent: Bool) {
        connection.active -= 1
        if connection.exhausted && connection.active == 0 && !connection.closed {
            connection.channel?.close(promise: nil)
        }
        if unsent && !pending.isDone {
            if pending.retried {
                pending.fail(.reset)
            } else {
                pending.retried = true
                waiting.insert(pending, at: 0)
            }
        }
        dispatch()
    }
}

/// Waits for a TLS connection's handshake, then has the pool check ALPN's answer and set HTTP/2 up behind it.
final class H2HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let pool: H2Pool
    private let connection: H2Pool.Connection

    init(pool: H2Pool, connection: H2Pool.Connection) {
        self.pool = pool
        self.connection = connection
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent {
            pool.handshaken(connection, context.channel, protocol: negotiated)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Turns the flushes of one turn of the event loop into one, below the HTTP/2 handler (as Netty's
/// `FlushConsolidationHandler` does). Measured with a stream channel per request, each flushing its HEADERS: 30,018
/// `write`s for 29,937 requests without it (strace), 0.19 per request with it. `H2ConnectionHandler` now flushes
/// once per turn itself, but `NIOHTTP2Handler` still flushes at the end of every read that wrote frames (the
/// requests VUs send on their answers, SETTINGS and PING acks): this leaves those in the turn's one write too. A
/// flush waits at most for the rest of the current turn.
final class FlushCoalescer: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var scheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !scheduled else { return }
        scheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            scheduled = false
            context.flush()
        }
    }
}
