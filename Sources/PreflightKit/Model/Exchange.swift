import NIOCore
import NIOHTTP1

/// One request, encoded and ready for the wire.
public struct PreparedRequest: Sendable {
    /// The index of the request template in the scenario.
    public var requestIndex: Int
    /// The global iteration index the request belongs to.
    public var iteration: Int
    /// The VU sending it.
    public var vu: Int
    /// A request head carrying only the method, so the response decoder knows about HEAD.
    public var methodHead: HTTPRequestHead
    /// The whole request (request line, headers, body) as bytes.
    public var bytes: ByteBuffer
    /// Whether checks need the body; otherwise it is only counted.
    public var wantsBody: Bool
    /// Seconds from send to the last byte of the response.
    public var timeout: Double
    /// Whether the outcome should carry the response headers (a header check or the probe reads them); the
    /// framing headers are always read.
    public var wantsHeaders = true
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
    /// The run stopped while the request was in flight; it is not recorded.
    public var abandoned = false

    public init() {}
}
