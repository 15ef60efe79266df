import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import PreflightCore

/// The real transport: a lean HTTP/1.1 client on SwiftNIO, one keep-alive connection per VU.
///
/// Requests arrive as messages and are encoded by `HTTP1Encoder` into a buffer the connection reuses, responses are
/// parsed by our own incremental `HTTPResponseParser` (NIOHTTP1's decoder cost more per response, see the README's
/// performance section) and bodies are only kept when a check needs them, so the per-request work is an encode, a
/// write, a parse and a callback on the VU's event loop.
public struct NIOHTTPTransport: Transport {
    /// Where requests go: the base path and Host of every request line.
    public var target: TargetURL
    /// Nil when the host did not resolve: every connect then fails as a `connect` error.
    public var address: SocketAddress?
    /// Why the host did not resolve.
    public var resolutionError: String?
    public var serverHostname: String?
    public var tls: NIOSSLContext?
    public var connectTimeout: Double
    public var maxBodyBytes: Int

    /// Resolves the target once (blocking DNS, before the run) and prepares TLS if the scheme asks for it.
    public init(target: TargetURL, http: HTTPSettings) throws {
        self.target = target
        let endpoint = try TargetEndpoint(target: target, http: http)
        (address, resolutionError, tls, serverHostname) = (
            endpoint.address, endpoint.resolutionError, endpoint.tls, endpoint.serverHostname
        )
        connectTimeout = http.connectTimeout
        maxBodyBytes = http.maxBodyBytes
    }

    public func makeConnection(on eventLoop: any EventLoop) -> any VUConnection {
        NIOHTTPConnection(eventLoop: eventLoop, transport: self)
    }
}

/// One VU's connection; it lives on its event loop only.
final class NIOHTTPConnection: VUConnection {
    private let eventLoop: any EventLoop
    private let transport: NIOHTTPTransport
    private var handler: ClientResponseHandler?
    private var channel: (any Channel)?

    init(eventLoop: any EventLoop, transport: NIOHTTPTransport) {
        self.eventLoop = eventLoop
        self.transport = transport
    }

    func send(_ request: PreparedRequest, completion: @escaping (HTTPOutcome) -> Void) {
        if let handler, handler.isOpen {
            handler.send(request, completion: completion)
            return
        }
        // This request waits for the connection: its connecting and TLS phases are this opening's.
        let asked = NIODeadline.now()
        connect { [self] error in
            if let handler, error == nil {
                handler.openedFor(askedAt: asked)
                handler.send(request, completion: completion)
            } else {
                var outcome = HTTPOutcome()
                outcome.error = error ?? .connect
                completion(outcome)
            }
        }
    }

    func connect(completion: @escaping (ErrorClass?) -> Void) {
        if let handler, handler.isOpen {
            // Keep the promise of never completing before the call returns.
            eventLoop.assumeIsolated().execute { completion(nil) }
            return
        }
        channel?.close(promise: nil)
        channel = nil
        handler = nil
        let newHandler = ClientResponseHandler(
            target: transport.target,
            maxBodyBytes: transport.maxBodyBytes,
            countsBytes: transport.tls == nil,
            eventLoop: eventLoop
        )
        let bound = NIOLoopBound(newHandler, eventLoop: eventLoop)
        let tls = transport.tls
        let hostname = transport.serverHostname
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(transport.connectTimeout * 1e9)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let handler = bound.value
                    // Without TLS the handler counts the bytes it reads; with TLS they are counted on the wire.
                    if let tls {
                        try sync.addHandler(ByteCounter(owner: handler))
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                    }
                    try sync.addHandler(handler)
                }
            }
        guard let address = transport.address else {
            eventLoop.assumeIsolated().execute { completion(.connect) }
            return
        }
        newHandler.connectStartedAt = NIODeadline.now()
        bootstrap.connect(to: address).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let ch):
                channel = ch
                handler = newHandler
                // The connect future succeeds before `channelActive` reaches the handler, and the completion may
                // send at once.
                newHandler.connected()
                guard tls != nil else {
                    completion(nil)
                    return
                }
                // With TLS the connection is ready once its handshake is done: a request is then written to a
                // secured connection, and the handshake is its own phase, not part of the wait for an answer.
                newHandler.whenHandshaken { [self] error in
                    if error != nil {
                        channel?.close(promise: nil)
                        channel = nil
                        handler = nil
                    }
                    completion(error)
                }
            case .failure:
                completion(.connect)
            }
        }
    }

    func close() {
        handler?.abandon()
        channel?.close(promise: nil)
        channel = nil
        handler = nil
    }
}

/// Counts bytes as they come off the wire, before TLS and HTTP decoding.
private final class ByteCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let owner: ClientResponseHandler

    init(owner: ClientResponseHandler) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner.bytesIn += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }
}

/// Sends one request at a time and calls its completion with the outcome, exactly once.
///
/// Which events complete a request, and which close the channel, is `ExchangeStateMachine`'s call; this class
/// only collects the response and does what the machine says.
final class ClientResponseHandler: ChannelInboundHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: TargetURL
    private let maxBodyBytes: Int
    private let countsBytes: Bool
    private let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    // Per-request state is `@exclusivity(unchecked)`: the handler lives on its channel's event loop and no access
    // spans a call back into it; the dynamic checks measured ~5 % of the load path's CPU (see LoadShard).
    @exclusivity(unchecked) private var machine = ExchangeStateMachine(connected: false)
    @exclusivity(unchecked) private var parser = HTTPResponseParser()
    @exclusivity(unchecked) private var pending: ((HTTPOutcome) -> Void)?
    /// One timer per connection, not per request: it is armed for the first request's deadline and left running
    /// when that request completes; when it fires it times out the request in flight if that one's deadline has
    /// passed, or re-arms itself for it. A keep-alive connection with fast answers thus schedules about one timer
    /// per timeout period instead of one per request (a heap insert and a cancel each, ~5 % of the load path's
    /// CPU in `perf`).
    @exclusivity(unchecked) private var timer: NIOScheduledCallback?
    @exclusivity(unchecked) private var timerAt: NIODeadline?
    /// The deadline of the request in flight.
    @exclusivity(unchecked) private var deadline: NIODeadline?
    @exclusivity(unchecked) private var outcome = HTTPOutcome()
    @exclusivity(unchecked) private var wantsBody = false
    /// The `Content-Encoding` of the response being read.
    @exclusivity(unchecked) private var coding = ContentCoding.identity
    @exclusivity(unchecked) var bytesIn = 0
    /// The buffer requests are encoded into, reused once the previous write has let go of it (copy-on-write
    /// allocates a new one when it has not), so encoding allocates nothing in the steady state.
    @exclusivity(unchecked) private var outbound = ByteBuffer()
    /// Constant requests (no placeholder) encoded once, by request index: sending one again is a reference to
    /// its bytes, as cheap as the plan's pre-encoded bytes were (re-encoding each cost ~4 % of the CPU per
    /// request in `scripts/bench/throughput.sh`).
    @exclusivity(unchecked) private var encodedConstants: [ByteBuffer?] = []
    // Timing phases (SPEC §15). The connection's opening: when its TCP connect started and ended, when its TLS
    // handshake ended; and the request that waited for it, from when.
    @exclusivity(unchecked) var connectStartedAt: NIODeadline?
    @exclusivity(unchecked) private var connectedAt: NIODeadline?
    @exclusivity(unchecked) private var handshakenAt: NIODeadline?
    @exclusivity(unchecked) private var openingAskedAt: NIODeadline?
    @exclusivity(unchecked) private var whenReady: ((ErrorClass?) -> Void)?
    /// The request in flight: its phases so far, when it was written, when its answer's first byte came.
    @exclusivity(unchecked) private var phases = PhaseTimes()
    @exclusivity(unchecked) private var writtenAt = NIODeadline.uptimeNanoseconds(0)
    @exclusivity(unchecked) private var firstByteAt: NIODeadline?

    /// `countsBytes` is false when a `ByteCounter` before TLS counts the bytes on the wire.
    init(target: TargetURL, maxBodyBytes: Int, countsBytes: Bool = true, eventLoop: any EventLoop) {
        self.target = target
        self.maxBodyBytes = maxBodyBytes
        self.countsBytes = countsBytes
        self.eventLoop = eventLoop
    }

    /// A new request may be sent.
    var isOpen: Bool { machine.isOpen && context != nil }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { machine.opened() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        perform(machine.closed())
        disarm()
        self.context = nil
    }

    /// The connection is established (its future succeeded); requests may be sent.
    func connected() {
        connectedAt = NIODeadline.now()
        if context?.channel.isActive == true { machine.opened() }
    }

    /// Calls `done` once the TLS handshake has completed (nil) or failed (`.tls`).
    func whenHandshaken(_ done: @escaping (ErrorClass?) -> Void) {
        if handshakenAt != nil {
            done(nil)
        } else if context == nil || context?.channel.isActive == false {
            done(.tls)
        } else {
            whenReady = done
        }
    }

    /// The next request is the one that waited since `askedAt` for this connection to open.
    func openedFor(askedAt: NIODeadline) { openingAskedAt = askedAt }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            handshakenAt = NIODeadline.now()
            let ready = whenReady
            whenReady = nil
            ready?(nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A connection that failed before it was ready tells whoever waits for it.
    private func failOpening(_ error: ErrorClass) {
        guard let ready = whenReady else { return }
        whenReady = nil
        ready(error)
    }

    func channelActive(context: ChannelHandlerContext) {
        machine.opened()
        context.fireChannelActive()
    }

    /// Writes the request, or completes it with an error on the next turn of the loop when the connection cannot
    /// take it (never before `send` returns).
    func send(_ request: PreparedRequest, completion: @escaping (HTTPOutcome) -> Void) {
        guard let context, case .write = machine.send() else {
            var failed = HTTPOutcome()
            failed.error = .reset
            eventLoop.assumeIsolated().execute { completion(failed) }
            return
        }
        pending = completion
        outcome = HTTPOutcome()
        bytesIn = 0
        wantsBody = request.wantsBody
        parser.expectResponse(isHead: request.message.method == "HEAD", keepHeaders: request.wantsHeaders)
        // The loop's clock (the real one on a real loop; a test's embedded loop keeps its own time).
        let now = eventLoop.now
        phases = PhaseTimes()
        firstByteAt = nil
        if let asked = openingAskedAt, let started = connectStartedAt, let connected = connectedAt {
            // The request that waited for this connection: its TCP and TLS handshakes are its phases; the rest of
            // the wait (setting the connection up, the turn of the loop before this write) is `blocked`.
            openingAskedAt = nil
            let ready = handshakenAt ?? connected
            phases.connecting = (connected - started).nanoseconds
            phases.tlsHandshaking = (ready - connected).nanoseconds
            phases.blocked = (started - asked).nanoseconds + (now - ready).nanoseconds
        }
        let due = now + .nanoseconds(Int64(request.timeout * 1e9))
        deadline = due
        if let armed = timerAt, armed <= due {
            // The running timer fires first and re-arms for this deadline.
        } else {
            arm(at: due)
        }
        let bytes = encode(request)
        outcome.bytesOut = bytes.readableBytes
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        // A flush writes to the socket at once when it can take the bytes (a request's size, almost always);
        // what the kernel could not take yet is written later and counts as waiting.
        writtenAt = NIODeadline.now()
        phases.sending = (writtenAt - now).nanoseconds
    }

    private func encode(_ request: PreparedRequest) -> ByteBuffer {
        guard request.isConstant else {
            outbound.clear()
            HTTP1Encoder.encode(request, target: target, into: &outbound)
            return outbound
        }
        let i = request.requestIndex
        if i < encodedConstants.count, let bytes = encodedConstants[i] { return bytes }
        let bytes = HTTP1Encoder.encoded(request, target: target)
        if encodedConstants.count <= i {
            encodedConstants.append(contentsOf: repeatElement(nil, count: i + 1 - encodedConstants.count))
        }
        encodedConstants[i] = bytes
        return bytes
    }

    private func arm(at due: NIODeadline) {
        timer?.cancel()
        timer = try? eventLoop.assumeIsolated().scheduleCallback(at: due, handler: self)
        timerAt = timer == nil ? nil : due
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
        timerAt = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if countsBytes { bytesIn += bytes.readableBytes }
        if firstByteAt == nil, pending != nil { firstByteAt = NIODeadline.now() }
        parser.append(bytes)
        do {
            while let event = try parser.next() { handle(event) }
        } catch {
            // A response that breaks HTTP/1.1 framing: the connection cannot be trusted for another request.
            perform(machine.failed(.reset))
        }
    }

    private func handle(_ event: HTTPResponseParser.Event) {
        switch event {
        case .head(let status, let keepAlive, let headers, let coding, let location):
            guard machine.receivedHead(keepAlive: keepAlive) else { return }
            outcome.status = status
            outcome.headers = headers
            outcome.location = location
            self.coding = coding
        case .body(var part):
            guard wantsBody, machine.isReceivingBody else { return }
            let room = maxBodyBytes - (outcome.body?.count ?? 0)
            if part.readableBytes > room {
                outcome.bodyTruncated = true
                part = part.getSlice(at: part.readerIndex, length: max(0, room)) ?? part
            }
            if outcome.body == nil {
                outcome.body = Array(part.readableBytesView)
            } else if part.readableBytes > 0 {
                outcome.body!.append(contentsOf: part.readableBytesView)
            }
        case .end:
            if let first = firstByteAt {
                phases.waiting = (first - writtenAt).nanoseconds
                phases.receiving = (NIODeadline.now() - first).nanoseconds
                outcome.phases = phases
            }
            if wantsBody { outcome.decodeBody(coding, limit: maxBodyBytes) }
            coding = .identity
            // The machine marks a closing connection closed before the completion runs: the completion may send
            // the VU's next request at once, and that one must go on a new connection.
            perform(machine.receivedEnd())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let kind: ErrorClass
        switch error {
        case is NIOSSLError, is BoringSSLError: kind = .tls
        default: kind = .reset
        }
        failOpening(kind == .reset ? .tls : kind)
        perform(machine.failed(kind))
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A body that runs to the end of the connection is complete now; anything else unfinished is a reset.
        if (try? parser.closed()) != nil { handle(.end) }
        failOpening(.tls)
        perform(machine.closed())
        context.fireChannelInactive()
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        timerAt = nil
        guard let due = deadline else { return }  // idle: the next request arms it again
        if due <= eventLoop.now {
            perform(machine.timedOut())
        } else {
            arm(at: due)
        }
    }

    /// The run is stopping: complete the request in flight (marked abandoned, so it is not recorded).
    func abandon() {
        outcome.abandoned = true
        perform(machine.abandoned())
    }

    private func perform(_ action: ExchangeStateMachine.CompletionAction) {
        switch action {
        case .none:
            return
        case .close:
            disarm()
            context?.close(promise: nil)
        case .complete(let error, let close):
            deadline = nil
            if close { disarm() }
            var result = outcome
            outcome = HTTPOutcome()
            if let error { result.error = error }
            result.bytesIn = bytesIn
            let completion = pending
            pending = nil
            completion?(result)
            if close { context?.close(promise: nil) }
        }
    }
}
