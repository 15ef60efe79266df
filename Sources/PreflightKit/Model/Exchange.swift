import NIOCore
import NIOHTTP1

/// One request as values — method, path, headers, body — with no wire format: each transport encodes it in its own
/// protocol (`HTTP1Encoder` for HTTP/1.1), so a new protocol is a new transport, not a change to the plan or the
/// probe.
public struct RequestMessage: Sendable {
    /// The method, as sent (`GET`, `POST`, any token the scenario names).
    public var method: String
    /// The path and query below the target's base path, percent-encoded; the transport puts the base path before it.
    public var path: String
    /// The header fields in order, the target's and Preflight's User-Agent included. Values hold no CR or LF. The
    /// transport adds what belongs to its protocol: Host or `:authority`, and the body's framing.
    public var headers: [(name: String, value: String)]
    /// The body, or nil for none (a POST, PUT or PATCH without one is still sent with a zero length).
    public var body: [UInt8]?

    public init(method: String, path: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }
}

/// One request ready to send: the message and what the load engine needs to know about its exchange.
public struct PreparedRequest: Sendable {
    /// The index of the request template in the scenario.
    public var requestIndex: Int
    /// The global iteration index the request belongs to.
    public var iteration: Int
    /// The VU sending it.
    public var vu: Int
    /// What to send.
    public var message: RequestMessage
    /// Whether checks need the body; otherwise it is only counted.
    public var wantsBody: Bool
    /// Seconds from send to the last byte of the response.
    public var timeout: Double
    /// Whether the outcome should carry the response headers (a header check or the probe reads them); the
    /// framing headers are always read.
    public var wantsHeaders = true
    /// Ask the server to close the connection after the answer (the one-shot client: a dead server must be seen as
    /// dead, not hidden behind a kept-alive socket).
    public var closesConnection = false
    /// Every request with this `requestIndex` from the same plan carries this same message (it has no
    /// placeholder), so a transport may encode it once per connection and send the encoding again.
    public var isConstant = false

    public init(
        requestIndex: Int,
        iteration: Int,
        vu: Int,
        message: RequestMessage,
        wantsBody: Bool,
        timeout: Double,
        wantsHeaders: Bool = true,
        closesConnection: Bool = false,
        isConstant: Bool = false
    ) {
        self.requestIndex = requestIndex
        self.iteration = iteration
        self.vu = vu
        self.message = message
        self.wantsBody = wantsBody
        self.timeout = timeout
        self.wantsHeaders = wantsHeaders
        self.closesConnection = closesConnection
        self.isConstant = isConstant
    }
}

/// What came back for one request.
public struct HTTPOutcome: Sendable {
    /// The status code, or 0 when no response head arrived.
    public var status: Int = 0
    /// The transport error, if the exchange failed (HTTP statuses are classified by the caller).
    public var error: ErrorClass?
    public var headers: HTTPHeaders?
    /// The body, when it was wanted, up to the configured cap.
    public var body: ByteBuffer?
    /// The body was longer than the cap; the rest was drained and counted.
    public var bodyTruncated = false
    /// Bytes read from the wire for this exchange (including headers and TLS framing).
    public var bytesIn = 0
    /// Bytes of the request as the transport encoded it (0 when it was never written).
    public var bytesOut = 0
    /// The run stopped while the request was in flight; it is not recorded.
    public var abandoned = false

    public init() {}
}
