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
    /// A flow step's capture found nothing in the answer (SPEC §14).
    case capture
    /// A gzip or deflate body that could not be decoded, or would decode past `http.maxBodyBytes`.
    case decode

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
        case .capture: "capture"
        case .decode: "decode"
        }
    }

    /// Classes every report lists, zero or not; the ones added with flows are listed only when they occurred, so
    /// the report of a scenario without them reads as it always did.
    public var alwaysReported: Bool { rawValue <= ErrorClass.aborted.rawValue }
}
