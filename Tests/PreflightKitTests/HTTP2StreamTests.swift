import Foundation
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// A bare swift-nio-http2 server (h2c) whose answer to each stream a test scripts by path: a frameworks' server
/// never resets a stream on purpose.
final class ScriptedH2Server: Sendable {
    enum Answer: Sendable {
        case ok
        /// A 200 whose body is this many bytes, sent as fast as the client's windows let it.
        case large(Int)
        case reset(HTTP2ErrorCode)
    }

    private let script: @Sendable (String) -> Answer
    private let seen = NIOLockedValueBox<(streams: Int, connections: Set<Int>)>((0, []))

    init(_ script: @escaping @Sendable (String) -> Answer) { self.script = script }

    /// Streams opened by clients, and how many connections carried them.
    var streams: Int { seen.withLockedValue { $0.streams } }
    var connections: Int { seen.withLockedValue { $0.connections.count } }

    func run(_ body: (Int) async throws -> Void) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                let peer = channel.remoteAddress?.port ?? 0
                return channel.eventLoop.makeCompletedFuture {
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server,
                        connectionConfiguration: .init(),
                        streamConfiguration: .init()
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(Stream(server: self, peer: peer))
                        }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(server.localAddress?.port ?? 0)
        } catch {
            try? await server.close()
            throw error
        }
        try await server.close()
    }

    private final class Stream: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        typealias OutboundOut = HTTP2Frame.FramePayload
        let server: ScriptedH2Server
        let peer: Int

        init(server: ScriptedH2Server, peer: Int) {
            self.server = server
            self.peer = peer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .headers(let request) = unwrapInboundIn(data) else { return }
            server.seen.withLockedValue {
                $0.streams += 1
                $0.connections.insert(peer)
            }
            switch server.script(request.headers.first(name: ":path") ?? "") {
            case .ok:
                let headers: HPACKHeaders = [":status": "200", "content-type": "application/json"]
                context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
                let body = ByteBuffer(string: #"{"ok":true}"#)
                context.writeAndFlush(
                    wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))),
                    promise: nil
                )
            case .large(let size):
                context.write(wrapOutboundOut(.headers(.init(headers: [":status": "200"]))), promise: nil)
                var left = size
                while left > 0 {
                    let n = min(left, 1 << 20)
                    left -= n
                    let part = ByteBuffer(repeating: UInt8(ascii: "x"), count: n)
                    context.write(
                        wrapOutboundOut(.data(.init(data: .byteBuffer(part), endStream: left == 0))),
                        promise: nil
                    )
                }
                context.flush()
            case .reset(let code):
                context.writeAndFlush(wrapOutboundOut(.rstStream(code)), promise: nil)
            }
        }
    }
}

extension Serial {
    /// HTTP/2 streams the server resets or refuses, and a connection that runs out of stream ids (SPEC §15).
    @Suite struct HTTP2StreamTests {
        @Test func aStreamTheServerResetsIsErrorClassResetAndARefusedOneGoesAgainOnce() async throws {
            // By iteration: 3 → RST_STREAM(INTERNAL_ERROR), processed maybe, never sent again; 7 → REFUSED_STREAM
            // the first time only, so its second try is answered; 9 → refused every time: tried twice, then reset.
            let refusedOnce = NIOLockedValueBox<Set<String>>([])
            let server = ScriptedH2Server { path in
                let n = Int(path.split(separator: "/").last ?? "") ?? 0
                switch n % 10 {
                case 3: return .reset(.internalError)
                case 7: return refusedOnce.withLockedValue { $0.insert(path).inserted } ? .reset(.refusedStream) : .ok
                case 9: return .reset(.refusedStream)
                default: return .ok
                }
            }
            try await server.run { port in
                let s = try scenario(
                    """
                    { "name": "h2-resets", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "http": { "version": "2" },
                      "requests": [ { "name": "item", "path": "/item/{{iteration}}" } ],
                      "load": { "executor": "shared-iterations", "vus": 4, "iterations": 60 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let r = result.metrics.requests[0]
                #expect(r.count == 60)
                #expect(r.byStatus[200]?.corrected.totalCount == 48)
                #expect(r.errors[ErrorClass.reset.rawValue] == 12, "6 reset + 6 refused twice")
                #expect(r.errors.reduce(0, +) == 12)
                #expect(r.goAwayRetries == 12, "6 refused once, 6 refused twice: each sent again once")
                #expect(server.streams == 72, "60 requests + 12 sent again, none more")
                #expect(r.http2 == 60)
            }
        }

        @Test func answersLargerThanTheReceiveWindowsArriveWholeAsTheWindowsAreGrantedBack() async throws {
            // 20 MiB per answer, 3 at once on one connection: 7.5× the connection's 8 MiB window and 2.5× each
            // stream's, so every answer needs WINDOW_UPDATEs on its stream and the connection, or it stalls.
            let server = ScriptedH2Server { _ in .large(20 << 20) }
            try await server.run { port in
                let s = try scenario(
                    """
                    { "name": "h2-large", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "http": { "version": "2", "timeout": "20s" },
                      "requests": [ { "name": "big", "path": "/big" } ],
                      "load": { "executor": "shared-iterations", "vus": 3, "iterations": 6 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s, eventLoops: 1)
                let r = result.metrics.requests[0]
                #expect(r.byStatus[200]?.corrected.totalCount == 6)
                #expect(r.errors.reduce(0, +) == 0)
                #expect(r.bytesIn >= 6 * (20 << 20))
                #expect(server.connections == 1)
            }
        }

        @Test func aConnectionOutOfStreamIDsGivesWayToANewOneAndNoRequestIsLost() async throws {
            let server = ScriptedH2Server { _ in .ok }
            try await server.run { port in
                var http = HTTPSettings()
                http.version = .http2
                var transport = try HTTP2Transport(
                    target: TargetURL(scheme: "http", host: "127.0.0.1", port: port, basePath: ""),
                    http: http
                )
                // Three stream ids left on each connection (…-6, …-4, …-2): ten requests need four connections.
                transport.firstStreamID = Int32.max - 6
                let h2 = transport
                let loop = MultiThreadedEventLoopGroup.singleton.next()
                let connection = try await loop.submit {
                    NIOLoopBound(h2.makeConnection(on: loop), eventLoop: loop)
                }.get()
                var statuses: [Int] = []
                for i in 0..<10 {
                    let request = PreparedRequest(
                        requestIndex: 0,
                        iteration: i,
                        vu: 0,
                        message: RequestMessage(method: "GET", path: "/item/\(i)"),
                        wantsBody: false,
                        timeout: 10,
                        closesConnection: false
                    )
                    let outcome = await withCheckedContinuation { (c: CheckedContinuation<HTTPOutcome, Never>) in
                        loop.execute { connection.value.send(request) { c.resume(returning: $0) } }
                    }
                    statuses.append(outcome.status)
                }
                try await loop.submit { connection.value.close() }.get()
                #expect(statuses == Array(repeating: 200, count: 10))
                #expect(server.streams == 10)
                #expect(server.connections == 4)
            }
        }
    }
}
