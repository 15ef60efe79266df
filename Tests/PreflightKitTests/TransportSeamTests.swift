import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// The transport seam: requests travel as messages, one encoder writes HTTP/1.1, and what a transport says it sent
/// is what a server read.
@Suite struct HTTP1EncoderTests {
    let target = TargetURL(scheme: "http", host: "api.test", port: 8080, basePath: "/v1")

    func request(_ message: RequestMessage, closes: Bool = false) -> PreparedRequest {
        PreparedRequest(
            requestIndex: 0,
            iteration: 0,
            vu: 0,
            message: message,
            wantsBody: false,
            timeout: 1,
            closesConnection: closes
        )
    }

    @Test func theBasePathHostHeadersAndLengthAreTheEncodersAndTheRestIsTheMessages() {
        let message = RequestMessage(
            method: "PUT",
            path: "/items/a%20b?x=1",
            headers: [("X-A", "1"), ("User-Agent", "me")],
            body: Array("{}".utf8)
        )
        #expect(
            String(buffer: HTTP1Encoder.encoded(request(message), target: target))
                == "PUT /v1/items/a%20b?x=1 HTTP/1.1\r\nHost: api.test:8080\r\nX-A: 1\r\nUser-Agent: me\r\n"
                + "Content-Length: 2\r\n\r\n{}"
        )
    }

    @Test(arguments: ["POST", "PUT", "PATCH"])
    func aMethodThatCarriesABodySaysZeroWhenItHasNone(_ method: String) {
        let text = String(
            buffer: HTTP1Encoder.encoded(request(RequestMessage(method: method, path: "/")), target: target)
        )
        #expect(text.hasSuffix("\r\nContent-Length: 0\r\n\r\n"))
    }

    @Test func aGetWithoutABodyHasNoLengthAndAOneShotRequestAsksToClose() {
        let text = String(
            buffer: HTTP1Encoder.encoded(
                request(RequestMessage(method: "GET", path: "/"), closes: true),
                target: target
            )
        )
        #expect(text == "GET /v1/ HTTP/1.1\r\nHost: api.test:8080\r\nConnection: close\r\n\r\n")
    }

    @Test func theCountItReturnsIsWhatItWrote() {
        var buffer = ByteBuffer(string: "already here")
        let n = HTTP1Encoder.encode(
            request(RequestMessage(method: "POST", path: "/p", body: Array("abc".utf8))),
            target: target,
            into: &buffer
        )
        #expect(n == buffer.readableBytes - "already here".utf8.count)
    }

    @Test func thePlanAndTheOneShotClientBuildTheSameHeadersForTheSameRequest() throws {
        let s = try scenario(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1:${PORT}", "headers": { "Accept": "a/b", "X-T": "t" } },
              "requests": [ { "name": "g", "path": "/g", "headers": { "X-T": "own" } } ],
              "load": { "executor": "per-vu-iterations" } }
            """,
            port: 1
        )
        let planned = RequestPlan(scenario: s, seed: 1).prepare(iteration: 0, vu: 0).message
        let merged = HeaderMerge.merged(target: s.target.headers, own: [("X-T", "own")])
        #expect(planned.headers.map { "\($0.name): \($0.value)" } == merged.map { "\($0.name): \($0.value)" })
        #expect(planned.headers.filter { $0.name == "User-Agent" }.count == 1)
    }
}

extension Serial {
    @Suite struct TransportSeamLiveTests {
        /// A raw HTTP/1.1 server: records every request's bytes as read off the socket and answers each with
        /// `status` and a two-byte body.
        final class RecordingServer: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let requests: NIOLockedValueBox<[String]>
            let status: Int
            private var pending: [UInt8] = []

            init(requests: NIOLockedValueBox<[String]>, status: Int) {
                self.requests = requests
                self.status = status
            }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                pending += unwrapInboundIn(data).readableBytesView
                // Requests without a body (GET): each ends at its blank line.
                let end = Array("\r\n\r\n".utf8)
                while let at = pending.firstRange(of: end) {
                    let one = String(decoding: pending[..<at.upperBound], as: UTF8.self)
                    pending.removeSubrange(..<at.upperBound)
                    requests.withLockedValue { $0.append(one) }
                    let reason = status == 200 ? "OK" : "Not Found"
                    let answer = "HTTP/1.1 \(status) \(reason)\r\nContent-Length: 2\r\n\r\nok"
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
                }
            }
        }

        func withRecordingServer<T: Sendable>(
            status: Int = 200,
            _ body: @Sendable (Int, NIOLockedValueBox<[String]>) async throws -> T
        ) async throws -> T {
            let requests = NIOLockedValueBox<[String]>([])
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            RecordingServer(requests: requests, status: status)
                        )
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            do {
                let result = try await body(channel.localAddress?.port ?? 0, requests)
                try await channel.close()
                return result
            } catch {
                try? await channel.close()
                throw error
            }
        }

        @Test func dataSentIsWhatTheServerReadAndTheProbeSendsWhatTheRunSends() async throws {
            try await withRecordingServer { port, requests in
                let s = try scenario(
                    """
                    { "name": "sent", "target": { "baseURL": "http://127.0.0.1:${PORT}", "headers": { "X-Team": "t" } },
                      "transport": { "mode": "real" }, "data": { "sym": ["AAPL", "MSFT", "A B"] },
                      "requests": [ { "name": "f", "path": "/f/{{sym}}?i={{iteration}}", "headers": { "X-Sym": "{{sym}}" } } ],
                      "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 3 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let seen = requests.withLockedValue { $0 }
                #expect(seen.count == 3)
                #expect(result.metrics.requests[0].bytesOut == seen.reduce(0) { $0 + $1.utf8.count })
                #expect(seen.last?.hasPrefix("GET /f/A%20B?i=2 HTTP/1.1\r\n") == true)

                // The probe asks for the last data row with the load path's own encoder and headers.
                let probe = await EndpointProbe.probe(s, seed: 1)
                #expect(probe.exists)
                let probed = requests.withLockedValue { $0 }.last
                #expect(probed == seen.last)
            }
        }

        @Test func constantRequestsEncodedOnceStillGoOutEachAsItself() async throws {
            try await withRecordingServer { port, requests in
                let s = try scenario(
                    """
                    { "name": "two", "target": { "baseURL": "http://127.0.0.1:${PORT}" }, "transport": { "mode": "real" },
                      "requests": [ { "name": "a", "path": "/a", "weight": 1 }, { "name": "b", "path": "/bb", "weight": 1 } ],
                      "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 4 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let lines = requests.withLockedValue { $0 }.map { $0.components(separatedBy: "\r\n")[0] }
                #expect(lines == ["GET /a HTTP/1.1", "GET /bb HTTP/1.1", "GET /a HTTP/1.1", "GET /bb HTTP/1.1"])
                let sent = result.metrics.requests.map(\.bytesOut)
                #expect(sent[0] > 0 && sent[1] == sent[0] + 2)
            }
        }

        @Test func aRequestThatNeverConnectedSentNothing() async throws {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            let port = channel.localAddress?.port ?? 0
            try await channel.close()
            let s = try scenario(
                """
                { "name": "nothing", "target": { "baseURL": "http://127.0.0.1:${PORT}" }, "transport": { "mode": "real" },
                  "http": { "connectTimeout": "1s" },
                  "requests": [ { "name": "f", "path": "/f" } ],
                  "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 2 } }
                """,
                port: port
            )
            let result = try await runScenario(s)
            #expect(result.metrics.requests[0].errors[ErrorClass.connect.rawValue] == 2)
            #expect(result.metrics.requests[0].bytesOut == 0)
        }

        @Test func theProbesDecoysAreTheSameRequestWithAnotherPath() async throws {
            try await withRecordingServer(status: 404) { port, requests in
                let s = try scenario(
                    """
                    { "name": "decoys", "target": { "baseURL": "http://127.0.0.1:${PORT}/api", "headers": { "X-Team": "t" } },
                      "data": { "id": ["A1"] },
                      "requests": [ { "name": "x", "path": "/items/{{id}}", "headers": { "X-Id": "{{id}}" } } ],
                      "load": { "executor": "per-vu-iterations" } }
                    """,
                    port: port
                )
                let result = await EndpointProbe.probe(s, seed: 1)
                #expect(!result.exists)
                let seen = requests.withLockedValue { $0 }
                try #require(seen.count == 3)
                let token = try #require(result.decoys?.last?.path.split(separator: "/").last.map(String.init))
                #expect(result.decoys?.map(\.path) == ["/api/items/\(token)", "/api/\(token)"])
                let rest = { (text: String) in text[text.range(of: " HTTP/1.1\r\n")!.lowerBound...] }
                #expect(seen[0].hasPrefix("GET /api/items/A1 HTTP/1.1\r\n"))
                #expect(seen[1].hasPrefix("GET /api/items/\(token) HTTP/1.1\r\n"))
                #expect(seen[2].hasPrefix("GET /api/\(token) HTTP/1.1\r\n"))
                #expect(rest(seen[1]) == rest(seen[0]))
                #expect(rest(seen[2]) == rest(seen[0]))
                #expect(seen[0].contains("\r\nX-Id: A1\r\n"))
            }
        }
    }
}
