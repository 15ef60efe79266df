import NIOCore
import NIOHTTP1
import PreflightCore

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
}

/// Makes connections for VUs; the seam between the load engine and the real or mock transport. Every transport
/// takes `RequestMessage`s and encodes them in its own protocol; `TransportFactory` makes them.
public protocol Transport: Sendable {
    func makeConnection(on eventLoop: any EventLoop) -> any VUConnection
    /// Why the target's host did not resolve, if it did not: every connect then fails as a `connect` error.
    var resolutionError: String? { get }
}

extension Transport {
    public var resolutionError: String? { nil }
}
