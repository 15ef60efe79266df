import NIOCore
import NIOHTTP1

/// How a request failed, as reports classify it (SPEC §7).
public enum ErrorClass: Int, CaseIterable, Sendable, Codable {
    /// The connection could not be established (refused, unreachable, connect timeout).
    case connect
    /// No complete response within the request timeout.
    case timeout
    /// The connection broke mid-request, or the response was not valid HTTP.
    case reset
    /// The TLS handshake or record layer failed.
    case tls
    case http4xx
    case http5xx
    /// The response arrived but a check on it failed.
    case check

    /// The name used in reports.
    public var name: String {
        switch self {
        case .connect: "connect"
        case .timeout: "timeout"
        case .reset: "reset"
        case .tls: "tls"
        case .http4xx: "http_4xx"
        case .http5xx: "http_5xx"
        case .check: "check"
        }
    }
}

/// One request, encoded and ready for the wire.
public struct PreparedRequest: Sendable {
    /// The index of the request template in the scenario.
    public var requestIndex: Int
    /// The global iteration index the request belongs to.
    public var iteration: Int
    /// A request head carrying only the method, so the response decoder knows about HEAD.
    public var methodHead: HTTPRequestHead
    /// The whole request (request line, headers, body) as bytes.
    public var bytes: ByteBuffer
    /// Whether checks need the body; otherwise it is only counted.
    public var wantsBody: Bool
    /// Seconds from send to the last byte of the response.
    public var timeout: Double
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

/// A connection owned by one VU, used for one request at a time on one event loop.
///
/// Implementations run on the event loop of the shard that owns the VU and are never shared between threads.
public protocol VUConnection: AnyObject {
    /// Sends the request and waits for its whole response, reconnecting first when needed.
    nonisolated(nonsending) func execute(_ request: PreparedRequest) async -> HTTPOutcome
    /// Opens the connection ahead of the first request; failures are left for that request to record.
    nonisolated(nonsending) func prepare() async
    /// Closes the connection; a request in flight completes as abandoned.
    func close()
}

/// Makes connections for VUs; the seam between the load engine and the real or mock transport.
public protocol Transport: Sendable {
    func makeConnection(on eventLoop: any EventLoop) -> any VUConnection
}
