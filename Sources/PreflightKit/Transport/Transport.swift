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
    /// Still in flight when `gracefulStop` ran out (or a second signal came): abandoned, never answered.
    case aborted

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
        case .aborted: "aborted"
        }
    }
}

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

/// A connection owned by one VU, used for one request at a time on one event loop.
///
/// Everything happens on the connection's event loop, callbacks included: a response read by NIO goes straight to
/// the VU's next step without a hop through Swift's global executor (a continuation resumes there first, which
/// measured at about half the throughput).
public protocol VUConnection: AnyObject {
    /// Sends the request, reconnecting first when needed; `completion` runs once, on the event loop, never
    /// before `send` returns.
    func send(_ request: PreparedRequest, completion: @escaping (HTTPOutcome) -> Void)
    /// Opens the connection ahead of the first request; `completion` gets the error class of a failure.
    func connect(completion: @escaping (ErrorClass?) -> Void)
    /// Closes the connection; a request in flight completes as abandoned.
    func close()
}

extension VUConnection {
    /// `send` for code off the hot path (warm-up).
    func execute(_ request: PreparedRequest, isolation: isolated (any Actor)? = #isolation) async -> HTTPOutcome {
        await withUnsafeContinuation { continuation in
            send(request) { continuation.resume(returning: $0) }
        }
    }

    /// `connect` for code off the hot path (opening connections before the start).
    func prepare(isolation: isolated (any Actor)? = #isolation) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            connect { _ in continuation.resume() }
        }
    }
}

/// Makes connections for VUs; the seam between the load engine and the real or mock transport.
public protocol Transport: Sendable {
    func makeConnection(on eventLoop: any EventLoop) -> any VUConnection
}
