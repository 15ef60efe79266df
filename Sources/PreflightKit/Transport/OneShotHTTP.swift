import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Single requests on a fresh connection each, for the drill's probes and canary: a dead server must be seen as
/// dead, not hidden behind a kept-alive socket or a pool.
struct OneShotHTTP: Sendable {
    let transport: NIOHTTPTransport
    let target: TargetURL
    let headers: [(name: String, value: String)]
    let eventLoop: any EventLoop

    init(
        target: TargetURL,
        http: HTTPSettings,
        headers: [(name: String, value: String)],
        connectTimeout: Double
    )
        throws
    {
        var settings = http
        settings.connectTimeout = min(http.connectTimeout, connectTimeout)
        transport = try NIOHTTPTransport(target: target, http: settings)
        self.target = target
        self.headers = headers
        eventLoop = MultiThreadedEventLoopGroup.singleton.next()
    }

    /// Sends one request and returns what came back (status 0 and an error class when nothing did).
    func send(
        method: String,
        path: String,
        headers extra: [(name: String, value: String)] = [],
        body: String? = nil,
        timeout: Double,
        wantsBody: Bool = false
    ) async -> HTTPOutcome {
        var buffer = ByteBuffer()
        buffer.writeString("\(method) \(target.basePath)\(path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\n")
        let (kept, hasUserAgent) = HeaderMerge.targetHeaders(headers, besides: extra.map(\.name))
        for h in kept + extra { buffer.writeString("\(h.name): \(h.value)\r\n") }
        // One User-Agent: a target or request that sets one keeps it (it used to be sent twice).
        if !hasUserAgent { buffer.writeString(HeaderMerge.userAgentLine) }
        buffer.writeString("Connection: close\r\n")
        if let body {
            buffer.writeString("Content-Length: \(body.utf8.count)\r\n\r\n")
            buffer.writeString(body)
        } else {
            buffer.writeString(["POST", "PUT", "PATCH"].contains(method) ? "Content-Length: 0\r\n\r\n" : "\r\n")
        }
        let request = PreparedRequest(
            requestIndex: 0,
            iteration: 0,
            vu: 0,
            methodHead: HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: "/"),
            bytes: buffer,
            wantsBody: wantsBody,
            timeout: timeout
        )
        let transport = self.transport
        let loop = eventLoop
        return await withCheckedContinuation { continuation in
            loop.execute {
                let connection = transport.makeConnection(on: loop)
                connection.send(request) { outcome in
                    connection.close()
                    continuation.resume(returning: outcome)
                }
            }
        }
    }
}
