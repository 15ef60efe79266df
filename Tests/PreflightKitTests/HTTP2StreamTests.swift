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
        /// A HEADERS frame with each of these `:status` values, the last one ending the stream.
        case statuses([String])
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
            case .statuses(let values):
                for (i, value) in values.enumerated() {
                    let last = i == values.count - 1
                    context.write(
                        wrapOutboundOut(.headers(.init(headers: [":status": value], endStream: last))),
                        promise: nil
                    )
                }
                context.flush()
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
                // Three stream ids left on each connection (…-6, …-4, …-2): ten requests need four connections.
                let outcomes = try await sendOneByOne(count: 10, port: port, firstStreamID: Int32.max - 6)
                #expect(outcomes.map(\.status) == Array(repeating: 200, count: 10))
                #expect(server.streams == 10)
                #expect(server.connections == 4)
            }
        }

        @Test func aStatusThatIsNotThreeDigitsFrom100To599IsAMalformedAnswerNotAStatus() async throws {
            // swift-nio-http2 checks that an answer has one `:status`, not what it says (RFC 9113 §8.3.2, §8.1.1).
            let cases: [(sent: [String], status: Int)] = [
                (["200"], 200), (["599"], 599), (["103", "204"], 204), (["100", "102", "404"], 404),
                (["+200"], 0), (["0200"], 0), (["999"], 0), (["099"], 0), (["20"], 0), (["2OO"], 0), (["-20"], 0),
                (["1zz", "200"], 0), (["101", "200"], 0),
                (["100"], 0),  // an informational status that ends the stream
            ]
            let server = ScriptedH2Server { path in
                .statuses(cases[Int(path.split(separator: "/").last ?? "") ?? 0].sent)
            }
            try await server.run { port in
                let outcomes = try await sendOneByOne(count: cases.count, port: port)
                for (outcome, expected) in zip(outcomes, cases) {
                    #expect(outcome.status == expected.status, "\(expected.sent)")
                    #expect(outcome.error == (expected.status == 0 ? .reset : nil), "\(expected.sent)")
                }
                #expect(server.connections == 1, "a malformed answer resets its stream, not the connection")
            }
        }

        /// Sends GET /item/0, /item/1, … one after the other on one HTTP/2 connection of the transport's.
        private func sendOneByOne(count: Int, port: Int, firstStreamID: Int32 = 1) async throws -> [HTTPOutcome] {
            var http = HTTPSettings()
            http.version = .http2
            var transport = try HTTP2Transport(
                target: TargetURL(scheme: "http", host: "127.0.0.1", port: port, basePath: ""),
                http: http
            )
            transport.firstStreamID = firstStreamID
            let h2 = transport
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let connection = try await loop.submit {
                NIOLoopBound(h2.makeConnection(on: loop), eventLoop: loop)
            }.get()
            var outcomes: [HTTPOutcome] = []
            for i in 0..<count {
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
                outcomes.append(outcome)
            }
            try await loop.submit { connection.value.close() }.get()
            return outcomes
        }
    }
}

/// The HTTP/2 `:status` reading against the HTTP/1.1 parser's status line: one rule for both.
@Suite struct H2StatusTests {
    @Test func everyThreeCharacterStatusReadsAsTheHTTP1ParserReadsItsStatusLine() {
        let alphabet = Array("0123456789+- a")
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let value = String([a, b, c])
                    let http1 = HTTPResponseParserTests.parse(["HTTP/1.1 \(value) X\r\nContent-Length: 0\r\n\r\n"])
                    let expected: H2Status =
                        switch http1 {
                        case .failure: .malformed
                        case .success(let parsed): parsed.status.map { .final($0) } ?? .interim
                        }
                    #expect(H2Status(value, endStream: false) == expected, "\(value)")
                }
            }
        }
        #expect(H2Status("204", endStream: true) == .final(204))
        #expect(H2Status("103", endStream: true) == .malformed, "an informational status may not end the stream")
        for value in ["", "2", "20", "2000", "0200", "+200", "200 ", "２００"] {
            #expect(H2Status(value, endStream: false) == .malformed, "\(value)")
        }
    }
}
