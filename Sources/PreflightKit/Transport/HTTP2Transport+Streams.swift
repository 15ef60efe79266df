import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import PreflightCore

/// One HTTP/2 connection's streams, above swift-nio-http2's `NIOHTTP2Handler`, which frames, keeps HPACK's tables,
/// checks every stream's state and keeps the flow-control accounts. This handler numbers new streams, hands each
/// answer's frames to its exchange, grants the receive windows back as they are consumed (swift-nio-http2 leaves
/// that to whoever reads the frames) and times requests out with one timer for the connection, not one per request.
final class H2ConnectionHandler: ChannelInboundHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// The receive window of the connection and of each stream: 8 MiB, so no answer of a usual size waits for a
    /// WINDOW_UPDATE. A window is granted back to this size once it falls below half of it.
    static let targetWindow = 8 * 1024 * 1024
    /// The connection's window before any WINDOW_UPDATE (RFC 9113 §6.9.2).
    private static let initialConnectionWindow = 65_535

    private let pool: H2Pool
    private let connection: H2Pool.Connection
    // Mutable state is `@exclusivity(unchecked)`, as in the HTTP/1.1 handler: it is all touched on the connection's
    // event loop and no access spans a call back into it (the HTTP/2 tests passed with the checks on); the
    // dynamic checks measured ~4 % of the CPU per request in `perf` on `scripts/bench/h2.sh`.
    @exclusivity(unchecked) private var context: ChannelHandlerContext?
    @exclusivity(unchecked) private var streams: [HTTP2StreamID: H2Exchange] = [:]
    @exclusivity(unchecked) private var nextStreamID: Int32
    @exclusivity(unchecked) private var flushScheduled = false
    /// One timer for the connection: armed for the earliest deadline; when it fires it times out what is due and
    /// re-arms for the next (as the HTTP/1.1 handler keeps one timer per connection).
    @exclusivity(unchecked) private var timer: NIOScheduledCallback?
    @exclusivity(unchecked) private var timerAt: NIODeadline?

    init(pool: H2Pool, connection: H2Pool.Connection, firstStreamID: Int32 = 1) {
        self.pool = pool
        self.connection = connection
        self.nextStreamID = firstStreamID
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Grow the connection's window to the target, as the streams' windows are by SETTINGS.
        let increment = Self.targetWindow - Self.initialConnectionWindow
        context.write(
            wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment))),
            promise: nil
        )
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        self.context = nil
    }

    /// Sends an exchange's request on a new stream. Stream ids run out after 2^30 requests on one connection
    /// (RFC 9113 §5.1.1): the connection then takes no new stream, closes when its last one ends, and the pool
    /// opens another.
    func start(_ exchange: H2Exchange) {
        guard let context, context.channel.isActive, !connection.exhausted else { return exchange.neverSent() }
        let id = HTTP2StreamID(nextStreamID)
        if nextStreamID >= Int32.max - 2 {
            connection.exhausted = true
        } else {
            nextStreamID += 2
        }
        streams[id] = exchange
        let (headers, body) = exchange.begin(streamID: id)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: headers)), promise: nil)
        if let body { context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: body)), promise: nil) }
        flushSoon()
        exchange.written()
        arm(exchange.deadline)
    }

    /// The exchange ended: its stream is forgotten, and reset with `reset` when it may still be open on the server's
    /// side (CANCEL when the client gave up, PROTOCOL_ERROR for a malformed answer, RFC 9113 §8.1.1).
    func ended(_ streamID: HTTP2StreamID, reset: HTTP2ErrorCode?) {
        guard streams.removeValue(forKey: streamID) != nil else { return }
        if let reset, let context, context.channel.isActive {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(reset))), promise: nil)
            flushSoon()
        }
    }

    /// One flush at the end of this turn of the event loop for all the streams the turn wrote.
    private func flushSoon() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            self.context?.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.streamID == .rootStream else {
            streams[frame.streamID]?.receive(frame.payload)
            return
        }
        switch frame.payload {
        case .settings(.settings(let settings)):
            if let max = settings.last(where: { $0.parameter == .maxConcurrentStreams }) {
                pool.settings(connection, maxStreams: max.value)
            }
        case .goAway(let lastStreamID, _, _):
            pool.goAway(connection, lastStreamID: lastStreamID)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let window as NIOHTTP2WindowUpdatedEvent:
            grant(window)
        case let closed as StreamClosedEvent:
            // Closed by the server (RST_STREAM, a GOAWAY above the stream) or by the state machine; a stream that
            // ended with its answer is no longer here.
            streams[closed.streamID]?.closed(refused: closed.reason == .refusedStream)
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Grants a window back once it has fallen below half of the target: the connection's, and an open stream's.
    private func grant(_ event: NIOHTTP2WindowUpdatedEvent) {
        guard let window = event.inboundWindowSize, window < Self.targetWindow / 2, let context else { return }
        if event.streamID != .rootStream, streams[event.streamID] == nil { return }
        let increment = min(Self.targetWindow - window, Int(Int32.max))
        context.write(
            wrapOutboundOut(
                HTTP2Frame(streamID: event.streamID, payload: .windowUpdate(windowSizeIncrement: increment))
            ),
            promise: nil
        )
        flushSoon()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A stream's error (swift-nio-http2 has reset the stream) ends that stream only.
        if let streamError = error as? NIOHTTP2Errors.StreamError {
            let refused = (streamError.baseError as? NIOHTTP2Errors.StreamClosed)?.errorCode == .refusedStream
            streams[streamError.streamID]?.closed(refused: refused)
            return
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        let open = streams.values
        for exchange in open { exchange.closed(refused: false) }
        streams = [:]
        context.fireChannelInactive()
    }

    // MARK: Timeouts

    private func arm(_ due: NIODeadline) {
        if let at = timerAt, at <= due { return }
        timer?.cancel()
        timer = try? context?.eventLoop.assumeIsolated().scheduleCallback(at: due, handler: self)
        timerAt = timer == nil ? nil : due
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
        timerAt = nil
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        timerAt = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        for exchange in Array(streams.values) {
            if exchange.deadline <= now {
                exchange.timedOut()
            } else if next.map({ exchange.deadline < $0 }) ?? true {
                next = exchange.deadline
            }
        }
        if let next { arm(next) }
    }
}

/// One request on one stream: its HEADERS (+ DATA) out, the answer's frames in, its outcome.
final class H2Exchange {
    let pending: H2Pool.Pending
    private let pool: H2Pool
    private let connection: H2Pool.Connection
    @exclusivity(unchecked) private var streamID = HTTP2StreamID(0)
    @exclusivity(unchecked) private var outcome = HTTPOutcome()
    @exclusivity(unchecked) private var phases = PhaseTimes()
    @exclusivity(unchecked) private var askedToWriteAt = NIODeadline.uptimeNanoseconds(0)
    @exclusivity(unchecked) private var writtenAt = NIODeadline.uptimeNanoseconds(0)
    @exclusivity(unchecked) private var firstByteAt: NIODeadline?
    @exclusivity(unchecked) private var coding = ContentCoding.identity
    @exclusivity(unchecked) private(set) var deadline = NIODeadline.distantFuture
    @exclusivity(unchecked) private var ended = false

    init(pending: H2Pool.Pending, pool: H2Pool, connection: H2Pool.Connection) {
        self.pending = pending
        self.pool = pool
        self.connection = connection
        pending.exchange = self
    }

    /// The request's frames for stream `id`; the clock of its phases starts.
    func begin(streamID id: HTTP2StreamID) -> (HTTP2Frame.FramePayload, HTTP2Frame.FramePayload?) {
        streamID = id
        let now = NIODeadline.now()
        askedToWriteAt = now
        if let opened = pending.opened {
            phases.connecting = opened.connecting
            phases.tlsHandshaking = opened.tls
        }
        phases.blocked = max(0, (now - pending.askedAt).nanoseconds - phases.connecting - phases.tlsHandshaking)
        deadline = now + .nanoseconds(Int64(pending.request.timeout * 1e9))
        let (headers, headerBytes) = pool.headers(for: pending.request)
        outcome.bytesOut = headerBytes
        guard let body = pending.request.message.body else {
            return (.headers(.init(headers: headers, endStream: true)), nil)
        }
        outcome.bytesOut += body.count
        return (
            .headers(.init(headers: headers, endStream: false)),
            .data(.init(data: .byteBuffer(ByteBuffer(bytes: body)), endStream: true))
        )
    }

    func written() {
        writtenAt = NIODeadline.now()
        phases.sending = (writtenAt - askedToWriteAt).nanoseconds
    }

    /// The connection could not take a stream (closed, out of stream ids): the request was never sent.
    func neverSent() {
        guard !ended else { return }
        ended = true
        pool.streamEnded(pending, on: connection, unsent: true)
    }

    /// The VU gave up on it (the run's end): the stream is reset.
    func cancel() {
        guard !ended else { return }
        ended = true
        connection.handler?.ended(streamID, reset: .cancel)
        pool.streamEnded(pending, on: connection, unsent: false)
    }

    func timedOut() { finish(error: .timeout, reset: .cancel) }

    /// The stream closed before its answer ended: reset by the server (`refused`: REFUSED_STREAM, RFC 9113 §8.7),
    /// above a GOAWAY's last stream id, or its connection closed.
    func closed(refused: Bool) { finish(error: .reset, reset: nil, refusedByServer: refused) }

    func receive(_ payload: HTTP2Frame.FramePayload) {
        switch payload {
        case .headers(let h):
            if firstByteAt == nil { firstByteAt = NIODeadline.now() }
            // One pass: HTTP/2 field names are lowercase (swift-nio-http2 validates it), so they compare as they are.
            var status: String?
            var encoding: String?
            var location: String?
            var kept: [(name: String, value: String)] = []
            let keep = pending.request.wantsHeaders
            for (name, value, _) in h.headers {
                outcome.bytesIn += name.utf8.count + value.utf8.count
                switch name {
                case ":status": status = value
                case "content-encoding": encoding = value
                case "location": location = value
                default: break
                }
                if keep && !name.hasPrefix(":") { kept.append((name, value)) }
            }
            // No `:status`: trailers (swift-nio-http2 refuses a response block without one, and trailers with one).
            if let value = status {
                let status: Int
                switch H2Status(value, endStream: h.endStream) {
                case .interim: return  // the real answer follows
                case .malformed: return finish(error: .reset, reset: .protocolError)
                case .final(let code): status = code
                }
                outcome.status = status
                if keep { outcome.headers = ResponseHeaders(kept) }
                if let encoding {
                    coding = ContentCoding.named(Array(encoding.trimmingCharacters(in: .whitespaces).utf8))
                }
                if (300..<400).contains(status) { outcome.location = location }
            }
            if h.endStream { finish(error: nil, reset: nil) }
        case .data(let d):
            if firstByteAt == nil { firstByteAt = NIODeadline.now() }
            if case .byteBuffer(var part) = d.data {
                outcome.bytesIn += part.readableBytes
                if pending.request.wantsBody {
                    let room = pool.transport.maxBodyBytes - (outcome.body?.count ?? 0)
                    if part.readableBytes > room {
                        outcome.bodyTruncated = true
                        part = part.getSlice(at: part.readerIndex, length: max(0, room)) ?? part
                    }
                    if outcome.body == nil {
                        outcome.body = Array(part.readableBytesView)
                    } else {
                        outcome.body!.append(contentsOf: part.readableBytesView)
                    }
                }
            }
            if d.endStream { finish(error: nil, reset: nil) }
        case .rstStream(let code):
            finish(error: .reset, reset: nil, refusedByServer: code == .refusedStream)
        default:
            break
        }
    }

    private func finish(error: ErrorClass?, reset: HTTP2ErrorCode?, refusedByServer: Bool = false) {
        guard !ended else { return }
        ended = true
        connection.handler?.ended(streamID, reset: reset)
        // Not processed by the server, so it may go again on another connection: refused with REFUSED_STREAM, or
        // above a GOAWAY's last stream id (RFC 9113 §6.8). Nothing that may have been processed is sent twice.
        if error == .reset, outcome.status == 0, firstByteAt == nil {
            let aboveLast = connection.lastStreamID.map { streamID > $0 } ?? false
            if refusedByServer || aboveLast {
                pool.streamEnded(pending, on: connection, unsent: true)
                return
            }
        }
        var result = outcome
        if let error {
            result.error = error
        } else {
            if let first = firstByteAt {
                phases.waiting = (first - writtenAt).nanoseconds
                phases.receiving = (NIODeadline.now() - first).nanoseconds
            }
            result.phases = phases
            if pending.request.wantsBody { result.decodeBody(coding, limit: pool.transport.maxBodyBytes) }
        }
        result.http2 = true
        result.retriedAfterGoAway = pending.retried
        pool.streamEnded(pending, on: connection, unsent: false)
        pending.complete(result)
    }

}

/// What a response HEADERS block's `:status` says (RFC 9113 §8.3.2). swift-nio-http2 checks that a response block
/// has exactly one `:status` and that its characters may stand in a field, but not its value; `Int(_:)` alone would
/// take "+200", "0200" or "999". The rule is the HTTP/1.1 parser's: three digits, 100–599.
enum H2Status: Equatable {
    /// The answer: status 200–599.
    case final(Int)
    /// An informational answer (1xx); the answer follows on the stream.
    case interim
    /// Not an HTTP/2 answer: a stream error of type PROTOCOL_ERROR (RFC 9113 §8.1.1).
    case malformed

    init(_ value: String, endStream: Bool) {
        // Read in place: once per answer on the load path, so no array.
        var code = 0
        var digits = 0
        for b in value.utf8 {
            guard digits < 3, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else {
                self = .malformed
                return
            }
            code = code * 10 + Int(b - UInt8(ascii: "0"))
            digits += 1
        }
        guard digits == 3 else {
            self = .malformed
            return
        }
        switch code {
        // RFC 9113 §8.6: HTTP/2 has no 101. §8.1: an informational status with END_STREAM is malformed.
        case 101: self = .malformed
        case 100..<200: self = endStream ? .malformed : .interim
        case 200...599: self = .final(code)
        default: self = .malformed
        }
    }
}
