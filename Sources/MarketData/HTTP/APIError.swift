import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered as `{"error":{"code","message"}}` with its status.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `unknown_symbol`.
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = #"{"error":{"code":"\#(JSONText.escape(code))","message":"\#(JSONText.escape(message))"}}"#
        return JSONText.response(body, status: status)
    }

    static func badSymbol(_ s: String) -> APIError {
        APIError(.badRequest, "bad_symbol", "symbol must match ^[A-Z][A-Z0-9.-]{0,14}$, got \"\(s.prefix(40))\"")
    }

    static func unknownSymbol(_ s: String) -> APIError {
        APIError(.notFound, "unknown_symbol", "no data for symbol \(s)")
    }
}
