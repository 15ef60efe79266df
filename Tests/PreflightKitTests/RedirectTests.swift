import Foundation
import HTTPTypes
import Histogram
import Hummingbird
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct RedirectRuleTests {
    let target = TargetURL(scheme: "http", host: "127.0.0.1", port: 8000, basePath: "")
    let post = RequestMessage(
        method: "POST",
        path: "/orders?x=1",
        headers: [("Content-Type", "application/json"), ("Authorization", "Bearer t")],
        body: Array("{}".utf8)
    )

    @Test func seeOtherAndAPostedFoundBecomeAGetWithoutBody() throws {
        for status in [303, 302, 301] {
            let next = try #require(Redirect.next(after: post, status: status, location: "/orders/7", target: target))
            #expect(next.method == "GET" && next.body == nil && next.path == "/orders/7")
            #expect(next.headers.map(\.name) == ["Authorization"])
        }
    }

    @Test func temporaryAndPermanentRedirectsRepeatTheMethodAndBody() throws {
        for status in [307, 308] {
            let next = try #require(Redirect.next(after: post, status: status, location: "/v2/orders", target: target))
            #expect(next.method == "POST" && next.body == Array("{}".utf8) && next.headers.count == 2)
        }
    }

    @Test func locationsResolveAgainstTheTargetAndOnlyItsOrigin() {
        let get = RequestMessage(method: "GET", path: "/a/b/c?q=1")
        func path(_ location: String, base: String = "") -> String? {
            let t = TargetURL(scheme: "http", host: "127.0.0.1", port: 8000, basePath: base)
            return Redirect.next(after: get, status: 302, location: location, target: t)?.path
        }
        #expect(path("d") == "/a/b/d")
        // RFC 3986 §5.2: dot segments removed, a query-only or fragment-only reference keeps the current path.
        #expect(path("../x") == "/a/x")
        #expect(path("./y/../../../../z") == "/z")
        #expect(path("?q=2") == "/a/b/c?q=2")
        #expect(path("#top") == "/a/b/c?q=1")
        #expect(path("a b") == "/a/b/a%20b")
        #expect(path("http://user:pw@127.0.0.1:8000/x") == nil)
        #expect(path("HTTP://127.0.0.1:8000/up") == "/up")
        #expect(path("../../x", base: "/api") == "/x")  // /api/a/b/../../x
        #expect(path("../../../x", base: "/api") == nil)  // above the base path
        #expect(path("/api/%2E%2e/x", base: "/api") == nil)  // a dot segment to nginx
        #expect(path("/z?k=v#frag") == "/z?k=v")
        #expect(path("http://127.0.0.1:8000/same") == "/same")
        #expect(path("http://127.0.0.1:8000") == "/")
        #expect(path("http://example.com/elsewhere") == nil)
        #expect(path("https://127.0.0.1:8000/tls") == nil)
        #expect(path("//example.com/x") == nil)
        #expect(path("/api/v2/x", base: "/api") == "/v2/x")
        #expect(path("/other/x", base: "/api") == nil)
        #expect(Redirect.next(after: get, status: 300, location: "/x", target: target) == nil)
    }
}

extension Serial {
    @Suite struct RedirectLiveTests {
        static func redirect(_ status: HTTPResponse.Status, to location: String, cookie: String? = nil) -> Response {
            var headers = HTTPFields()
            headers[.location] = location
            if let cookie { headers[.setCookie] = cookie }
            return Response(status: status, headers: headers)
        }

        static func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.get("/chain") { _, _ in Self.redirect(.found, to: "/chain2") }
            router.get("/chain2") { _, _ in Self.redirect(.found, to: "/end") }
            router.get("/end") { _, _ in "done" }
            router.get("/away") { _, _ in Self.redirect(.found, to: "http://example.invalid/x") }
            router.post("/login") { _, _ in Self.redirect(.seeOther, to: "/home", cookie: "sid=abc; Path=/") }
            router.get("/home") { request, _ -> Response in
                Response(status: request.headers[.cookie] == "sid=abc" ? .ok : .unauthorized)
            }
            return router
        }

        @Test func aChainOfRedirectsEndsAtItsAnswerWithTheRedirectsCounted() async throws {
            try await withTestServer(Self.router()) { port in
                let s = try scenario(
                    """
                    { "name": "r", "target": { "baseURL": "http://127.0.0.1:${PORT}" }, "transport": { "mode": "real" },
                      "requests": [
                        { "name": "chain", "path": "/chain", "checks": [ { "status": 200 }, { "bodyContains": "done" } ] },
                        { "name": "away", "path": "/away" } ],
                      "load": { "executor": "shared-iterations", "vus": 2, "iterations": 6 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let chain = result.metrics.requests[0]
                #expect(chain.byStatus[200]?.corrected.totalCount == 3)
                #expect(chain.checksPassed == [3, 3])
                #expect(chain.redirects == 6)
                // Another origin is not followed: the 302 is the answer.
                #expect(result.metrics.requests[1].byStatus[302]?.corrected.totalCount == 3)
                #expect(result.metrics.requests[1].redirects == 0)
            }
        }

        @Test func redirectsZeroOrALimitLeaveThe3xxAsTheAnswer() async throws {
            try await withTestServer(Self.router()) { port in
                for (limit, status, redirects) in [(0, 302, 0), (1, 302, 1)] {
                    let s = try scenario(
                        """
                        { "name": "r", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                          "transport": { "mode": "real" }, "http": { "redirects": \(limit) },
                          "requests": [ { "name": "chain", "path": "/chain" } ],
                          "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 2 } }
                        """,
                        port: port
                    )
                    let result = try await runScenario(s)
                    #expect(result.metrics.requests[0].byStatus[status]?.corrected.totalCount == 2)
                    #expect(result.metrics.requests[0].redirects == 2 * redirects)
                }
            }
        }

        @Test func aLoginThatSetsItsCookieOnA303IsFollowedWithIt() async throws {
            try await withTestServer(Self.router()) { port in
                let s = try scenario(
                    """
                    { "name": "r", "target": { "baseURL": "http://127.0.0.1:${PORT}" }, "transport": { "mode": "real" },
                      "flow": [ { "name": "login", "method": "POST", "path": "/login", "body": { "u": "a" },
                                  "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 2 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.metrics.requests[0].byStatus[200]?.corrected.totalCount == 4)
                #expect(result.metrics.requests[0].redirects == 4)
            }
        }
    }
}
