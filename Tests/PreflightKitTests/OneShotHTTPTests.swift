import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// The one-shot client of the probe, the drill and the scraper merges headers as the load path's plan does
    /// (#26, item 6: one merge, `HeaderMerge`); it sent Preflight's User-Agent beside the target's own.
    @Suite struct OneShotHTTPTests {
        static func userAgents() -> Router<BasicRequestContext> {
            let router = Router()
            router.get("/ua") { request, _ -> Response in
                let values = request.headers[values: .userAgent]
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: values.joined(separator: "|"))))
            }
            return router
        }

        func userAgents(
            port: Int,
            target: [(name: String, value: String)],
            extra: [(name: String, value: String)] = []
        )
            async throws -> String
        {
            let client = try TransportFactory(
                target: TargetURL(scheme: "http", host: "127.0.0.1", port: port, basePath: "")
            )
            .oneShot(headers: target, connectTimeout: 2)
            let outcome = await client.send(method: "GET", path: "/ua", headers: extra, timeout: 5, wantsBody: true)
            #expect(outcome.status == 200)
            return outcome.body.map { String(decoding: $0, as: UTF8.self) } ?? ""
        }

        @Test func oneUserAgentWhoeverSetsIt() async throws {
            try await withTestServer(Self.userAgents()) { port in
                let own = try await userAgents(port: port, target: [])
                #expect(own == "preflight/\(PreflightInfo.version)")
                let targets = try await userAgents(port: port, target: [("user-agent", "probe/1")])
                #expect(targets == "probe/1")
                // The request's own wins over the target's.
                let requests = try await userAgents(
                    port: port,
                    target: [("User-Agent", "t/1")],
                    extra: [("User-Agent", "r/2")]
                )
                #expect(requests == "r/2")
            }
        }
    }
}
