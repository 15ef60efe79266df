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
    /// The response's header fields, when a check or the probe asked for them.
    public var headers: ResponseHeaders?
    /// The body, when it was wanted, up to the configured cap.
    public var body: [UInt8]?
    /// The body was longer than the cap; the rest was drained and counted.
    public var bodyTruncated = false
    /// Bytes read from the wire for this exchange (including headers and TLS framing).
    public var bytesIn = 0
    /// Bytes of the request as the transport encoded it (0 when it was never written).
    public var bytesOut = 0
    /// The run stopped while the request was in flight; it is not recorded.
    public var abandoned = false
    /// A 3xx answer's `Location`, read whether or not the headers are kept, so a redirect can be followed.
    public var location: String?
    /// Redirects followed to reach this answer (`http.redirects`).
    public var redirects = 0
    /// Where the time went; recorded for exchanges that got an answer (status > 0).
    public var phases = PhaseTimes()
    /// It went over HTTP/2.
    public var http2 = false
    /// A GOAWAY refused it on one connection and it was sent again on another (once at most).
    public var retriedAfterGoAway = false

    public init() {}
}

/// A response's header fields in arrival order, names as the server sent them; lookups ignore the name's case
/// (RFC 9110 §5.1). Repeated fields stay separate (`Set-Cookie` cannot be joined with commas).
public struct ResponseHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}

    public init(_ fields: [(name: String, value: String)]) { self.fields = fields }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public mutating func add(name: String, value: String) { fields.append((name, value)) }

    /// The first field of that name, or nil.
    public func first(name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    /// Every value of that name, in order.
    public subscript(name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// ASCII case-insensitive equality (no locale, no Unicode folding: header names are tokens).
    package static func sameName(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).allSatisfy { x, y in
            let lx = x >= 0x41 && x <= 0x5A ? x | 0x20 : x
            let ly = y >= 0x41 && y <= 0x5A ? y | 0x20 : y
            return lx == ly
        }
    }
}
