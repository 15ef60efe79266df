import NIOCore
import NIOPosix
import PreflightCore

/// Single requests on a fresh connection each, for the probe, the drill's probes and canary, the scraper and the
/// demo: a dead server must be seen as dead, not hidden behind a kept-alive socket or a pool. Made by
/// `TransportFactory.oneShot`, so it speaks what the load path speaks.
struct OneShotHTTP: Sendable {
    let transport: any Transport
    /// The headers every request carries (the target's), merged with a request's own by `HeaderMerge`.
    let headers: [(name: String, value: String)]
    let eventLoop: any EventLoop

    init(transport: any Transport, headers: [(name: String, value: String)]) {
        self.transport = transport
        self.headers = headers
        eventLoop = MultiThreadedEventLoopGroup.singleton.next()
    }

    /// Why the target's host did not resolve, if it did not (every send then fails to connect).
    var resolutionError: String? { transport.resolutionError }

    /// Sends one request, asking the server to close the connection after it, and returns what came back (status 0
    /// and an error class when nothing did).
    func send(
        method: String,
        path: String,
        headers own: [(name: String, value: String)] = [],
        body: String? = nil,
        timeout: Double,
        wantsBody: Bool = false
    ) async -> HTTPOutcome {
        let message = RequestMessage(
            method: method,
            path: path,
            headers: HeaderMerge.merged(target: headers, own: own),
            body: body.map { Array($0.utf8) }
        )
        let request = PreparedRequest(
            requestIndex: 0,
            iteration: 0,
            vu: 0,
            message: message,
            wantsBody: wantsBody,
            timeout: timeout,
            closesConnection: true
        )
        return await send(request)
    }

    /// Sends `request` as it is on a new connection, closed after the answer.
    ///
    /// Cancelling the task (SIGINT during the probe) closes the connection, so the caller does not wait out the
    /// timeout; a send that starts after the cancellation completes at once, as abandoned.
    func send(_ request: PreparedRequest) async -> HTTPOutcome {
        let exchange = Exchange()
        let transport = self.transport
        let loop = eventLoop
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                loop.execute {
                    guard !exchange.cancelled else {
                        var abandoned = HTTPOutcome()
                        abandoned.abandoned = true
                        abandoned.error = .aborted
                        continuation.resume(returning: abandoned)
                        return
                    }
                    let connection = transport.makeConnection(on: loop)
                    exchange.connection = connection
                    connection.send(request) { outcome in
                        connection.close()
                        exchange.connection = nil
                        continuation.resume(returning: outcome)
                    }
                }
            }
        } onCancel: {
            loop.execute {
                exchange.cancelled = true
                exchange.connection?.close()
            }
        }
    }

    /// One exchange's connection, touched only on the client's event loop.
    private final class Exchange: @unchecked Sendable {
        var connection: (any VUConnection)?
        var cancelled = false
    }
}
