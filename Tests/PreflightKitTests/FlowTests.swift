import Foundation
import Histogram
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// A flow scenario (SPEC §14) against `port`: `steps` is the JSON array of steps.
private func flowScenario(
    _ steps: String,
    vus: Int = 1,
    iterations: Int = 1,
    port: Int,
    extra: String = ""
) throws
    -> Scenario
{
    try scenario(
        """
        {
          "name": "journey",
          "target": { "baseURL": "http://127.0.0.1:${PORT}" },
          "flow": \(steps),
          "load": { "executor": "per-vu-iterations", "vus": \(vus), "iterations": \(iterations), "maxDuration": "30s" },
          "transport": { "mode": "real" }\(extra)
        }
        """,
        port: port
    )
}

private func count(_ result: RunResult, _ s: Scenario, _ name: String) -> Int {
    result.metrics.requests[s.requests.firstIndex { $0.name == name }!].count
}

private func statusCount(_ result: RunResult, _ s: Scenario, _ name: String, _ status: Int) -> Int {
    let r = result.metrics.requests[s.requests.firstIndex { $0.name == name }!]
    return Int(r.byStatus[status]?.corrected.totalCount ?? 0)
}

private func errors(_ result: RunResult, _ s: Scenario, _ name: String, _ e: ErrorClass) -> Int {
    result.metrics.requests[s.requests.firstIndex { $0.name == name }!].errors[e.rawValue]
}

/// Tokens the login route issued; `/me` accepts only those.
private final class Issued: Sendable {
    private let state = NIOLockedValueBox<(next: Int, tokens: Set<String>, looks: [String: Int])>((0, [], [:]))

    func issue() -> String {
        state.withLockedValue {
            $0.next += 1
            let t = "tok-\($0.next)"
            $0.tokens.insert(t)
            return t
        }
    }

    func valid(_ t: String) -> Bool { state.withLockedValue { $0.tokens.contains(t) } }

    func look(_ job: String) -> Int {
        state.withLockedValue {
            $0.looks[job, default: 0] += 1
            return $0.looks[job]!
        }
    }
}

private func journeyRouter(_ issued: Issued, withToken: Bool = true) -> Router<BasicRequestContext> {
    let router = Router()
    router.post("/login") { _, _ -> Response in
        let body = withToken ? #"{"access_token":"\#(issued.issue())","expires":3600}"# : #"{"expires":3600}"#
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.setCookie] = "session=s-\(issued.issue()); Path=/; HttpOnly"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    router.post("/signin") { request, _ -> Response in
        let u = request.uri.queryParameters.get("u") ?? "?"
        var headers = HTTPFields()
        headers[.setCookie] = "session=vu\(u)-\(issued.issue()); Path=/; HttpOnly"
        return Response(status: .noContent, headers: headers)
    }
    router.get("/whoami") { request, _ -> Response in
        // 200 only for exactly one session cookie, of the VU that asks; 401 without one, 403 for another VU's.
        let u = request.uri.queryParameters.get("u") ?? "?"
        let cookie = request.headers[.cookie] ?? ""
        let sessions = cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("session=") }
        if sessions.isEmpty { return Response(status: .unauthorized) }
        return Response(status: sessions.count == 1 && sessions[0].hasPrefix("session=vu\(u)-") ? .ok : .forbidden)
    }
    router.get("/me") { request, _ -> Response in
        let auth = request.headers[.authorization] ?? ""
        let ok = auth.hasPrefix("Bearer ") && issued.valid(String(auth.dropFirst(7)))
        return Response(status: ok ? .ok : .unauthorized)
    }
    router.get("/session/{sid}") { _, context -> Response in
        let sid = context.parameters.get("sid") ?? ""
        return Response(status: sid.hasPrefix("s-tok-") ? .ok : .badRequest)
    }
    router.post("/orders") { _, _ -> Response in
        var headers = HTTPFields()
        headers[.location] = "/orders/42"
        return Response(status: .created, headers: headers)
    }
    router.get("/orders/{id}") { _, context -> Response in
        Response(status: context.parameters.get("id") == "42" ? .ok : .notFound)
    }
    router.post("/jobs") { _, _ -> Response in
        Response(status: .accepted, body: .init(byteBuffer: ByteBuffer(string: #"{"job":{"id":7}}"#)))
    }
    router.get("/jobs/{id}") { _, context -> Response in
        let id = context.parameters.get("id") ?? ""
        let looks = issued.look(id)
        let body = #"{"id":\#(id),"status":"\#(looks >= 5 ? "done" : "running")"}"#
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    return router
}

extension Serial {
    @Suite struct FlowLiveTests {
        @Test func aTokenCapturedFromTheLoginAnswerAuthorisesTheNextStep() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "login", "method": "POST", "path": "/login", "body": { "user": "u{{vu}}" },
                        "capture": { "token": { "json": "$.access_token" } } },
                      { "name": "me", "path": "/me", "headers": { "Authorization": "Bearer {{token}}" },
                        "checks": [ { "status": 200 } ] }
                    ]
                    """,
                    vus: 2,
                    iterations: 5,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.metrics.iterations == 10)
                #expect(count(result, s, "login") == 10)
                #expect(statusCount(result, s, "me", 200) == 10)
                #expect(result.metrics.iterationDuration.totalCount == 10)
                #expect(result.metrics.flowsStopped == 0)
            }
        }

        @Test func aCaptureThatFindsNothingStopsTheIterationAndIsCounted() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued, withToken: false)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "login", "method": "POST", "path": "/login",
                        "capture": { "token": { "json": "$.access_token" } } },
                      { "name": "me", "path": "/me", "headers": { "Authorization": "Bearer {{token}}" } }
                    ]
                    """,
                    iterations: 3,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.metrics.iterations == 3)
                #expect(result.metrics.flowsStopped == 3)
                #expect(errors(result, s, "login", .capture) == 3)
                #expect(count(result, s, "me") == 0)
            }
        }

        @Test func onFailureContinueSendsTheNextStepWithTheCaptureEmpty() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued, withToken: false)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "login", "method": "POST", "path": "/login", "onFailure": "continue",
                        "capture": { "token": { "json": "$.access_token" } } },
                      { "name": "me", "path": "/me", "headers": { "Authorization": "Bearer {{token}}" } }
                    ]
                    """,
                    iterations: 2,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.metrics.flowsStopped == 0)
                #expect(statusCount(result, s, "me", 401) == 2)
            }
        }

        @Test func headerRegexAndCookieCapturesFeedLaterSteps() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "login", "method": "POST", "path": "/login",
                        "capture": { "sid": { "cookie": "session" } } },
                      { "name": "session", "path": "/session/{{sid}}", "checks": [ { "status": 200 } ] },
                      { "name": "create", "method": "POST", "path": "/orders",
                        "capture": { "id": { "header": "Location", "regex": "/orders/(\\\\d+)$" } } },
                      { "name": "read", "path": "/orders/{{id}}", "checks": [ { "status": 200 } ] }
                    ]
                    """,
                    iterations: 2,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(statusCount(result, s, "session", 200) == 2)
                #expect(statusCount(result, s, "read", 200) == 2)
                #expect(result.metrics.flowsStopped == 0)
            }
        }

        @Test func aCookieSetByOneStepIsSentByTheNextAndNotByAnotherVUOrIteration() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "before", "path": "/whoami?u={{vu}}", "onFailure": "continue",
                        "checks": [ { "status": 401 } ] },
                      { "name": "signin", "method": "POST", "path": "/signin?u={{vu}}" },
                      { "name": "whoami", "path": "/whoami?u={{vu}}", "checks": [ { "status": 200 } ] }
                    ]
                    """,
                    vus: 3,
                    iterations: 4,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(statusCount(result, s, "before", 401) == 12)
                #expect(statusCount(result, s, "whoami", 200) == 12)
                #expect(result.metrics.flowsStopped == 0)
            }
        }

        @Test func cookiesOffSendsNone() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued)) { port in
                let s = try flowScenario(
                    """
                    [ { "name": "signin", "method": "POST", "path": "/signin?u={{vu}}" },
                      { "name": "whoami", "path": "/whoami?u={{vu}}" } ]
                    """,
                    iterations: 2,
                    port: port,
                    extra: #", "http": { "cookies": false }"#
                )
                let result = try await runScenario(s)
                #expect(statusCount(result, s, "whoami", 401) == 2)
            }
        }

        @Test func untilPollsAJobThatFinishesOnItsFifthLookAndCountsFiveRequests() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "start", "method": "POST", "path": "/jobs",
                        "capture": { "job": { "json": "$.job.id" } } },
                      { "name": "poll", "path": "/jobs/{{job}}",
                        "until": { "check": { "json": "$.status", "equals": "done" }, "every": "10ms", "max": 20 },
                        "checks": [ { "json": "$.status", "equals": "done" } ],
                        "capture": { "state": { "json": "$.status" } } },
                      { "name": "again", "path": "/jobs/{{job}}?after={{state}}" }
                    ]
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(count(result, s, "poll") == 5)
                // The step's checks judge the answer the polling ended on, not the four while the job ran.
                let poll = result.metrics.requests[try #require(s.requests.firstIndex { $0.name == "poll" })]
                #expect(poll.checksPassed == [1])
                #expect(poll.checksFailed == [0])
                #expect(poll.errors.reduce(0, +) == 0)
                #expect(count(result, s, "again") == 1)
                #expect(result.metrics.flowsStopped == 0)
                #expect(result.metrics.iterations == 1)
            }
        }

        @Test func untilThatNeverHoldsFailsTheStepAfterMaxAttempts() async throws {
            let issued = Issued()
            try await withTestServer(journeyRouter(issued)) { port in
                let s = try flowScenario(
                    """
                    [
                      { "name": "poll", "path": "/jobs/other",
                        "until": { "check": { "json": "$.status", "equals": "never" }, "every": "5ms", "max": 3 } },
                      { "name": "after", "path": "/me" }
                    ]
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(count(result, s, "poll") == 3)
                #expect(count(result, s, "after") == 0)
                #expect(result.metrics.flowsStopped == 1)
            }
        }

        @Test func aFlowRunsOnTheMockWithCapturesFromItsBodies() async throws {
            let s = try scenario(
                """
                {
                  "name": "journey",
                  "target": { "baseURL": "http://127.0.0.1:9" },
                  "flow": [
                    { "name": "login", "method": "POST", "path": "/login",
                      "capture": { "token": { "json": "$.access_token" } } },
                    { "name": "me", "path": "/me", "headers": { "Authorization": "Bearer {{token}}" },
                      "checks": [ { "status": 200 } ] }
                  ],
                  "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 3 },
                  "transport": { "mode": "mock", "mock": { "latency": { "distribution": "fixed", "value": "1ms" },
                    "responses": { "login": { "body": { "access_token": "mock-token" } } } } }
                }
                """,
                port: 9
            )
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let runner = LoadRunner(
                scenario: s,
                transport: TransportFactory.mock(s, seed: 1),
                options: RunOptions(seed: 1, eventLoops: 1),
                logger: logger
            )
            let result = try await runner.run(control: RunControl())
            #expect(result.metrics.iterations == 6)
            #expect(result.metrics.flowsStopped == 0)
            #expect(statusCount(result, s, "me", 200) == 6)
        }
    }
}

struct FlowValidationTests {
    private func problems(_ json: String) -> [String] {
        do {
            _ = try scenario(json, port: 1)
            return []
        } catch let e as ScenarioError {
            return e.problems.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    private func doc(_ flow: String, thresholds: String = "{}") -> String {
        """
        { "name": "j", "target": { "baseURL": "http://127.0.0.1:1" }, "flow": \(flow),
          "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 1 }, "thresholds": \(thresholds) }
        """
    }

    @Test func aCaptureUsedBeforeItIsDefinedNamesWhereItIsCaptured() {
        let found = problems(
            doc(
                """
                [ { "name": "me", "path": "/me", "headers": { "Authorization": "Bearer {{token}}" } },
                  { "name": "login", "path": "/login", "capture": { "token": { "json": "$.t" } } } ]
                """
            )
        )
        #expect(
            found == [
                "$.flow[0]: uses {{token}} before it is captured ($.flow[1].capture.token) "
                    + "(a step can use only what earlier steps captured)"
            ]
        )
    }

    @Test func everyMistakeIsReportedAtOnceWithItsPath() {
        let found = problems(
            doc(
                """
                [ { "name": "a", "path": "/a/{{nothing}}", "weight": 2,
                    "capture": { "x": { "json": "$.x", "header": "X" }, "vu": { "json": "$.v" } } },
                  { "name": "b", "path": "/b", "until": { "check": { "status": 200 }, "every": "1s" },
                    "onFailure": "retry" } ]
                """
            )
        )
        #expect(found.contains { $0.hasPrefix("$.flow[0].weight: unknown key") })
        #expect(found.contains { $0.hasPrefix("$.flow[0].path: uses {{nothing}}, which no data feed or capture") })
        #expect(found.contains { $0.hasPrefix("$.flow[0].capture.x: has json and header") })
        #expect(found.contains { $0.hasPrefix("$.flow[0].capture.vu: \"vu\" is already") })
        #expect(found.contains { $0.hasPrefix("$.flow[1].until.max: is required") })
        #expect(found.contains { $0.hasPrefix("$.flow[1].onFailure: must be one of") })
    }

    @Test func requestsAndFlowTogetherAreRefused() {
        let found = problems(
            """
            { "name": "j", "target": { "baseURL": "http://127.0.0.1:1" },
              "requests": [ { "name": "a", "path": "/a" } ], "flow": [ { "name": "b", "path": "/b" } ],
              "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 1 } }
            """
        )
        #expect(found.first?.hasPrefix("$.flow: a scenario has requests or a flow, not both") == true)
    }

    @Test func iterationDurationIsAFlowMetric() throws {
        #expect(
            problems(
                doc(#"[ { "name": "a", "path": "/a" } ]"#, thresholds: #"{ "iteration_duration": ["p(95)<2000"] }"#)
            )
            .isEmpty
        )
        let refused = problems(
            """
            { "name": "j", "target": { "baseURL": "http://127.0.0.1:1" },
              "requests": [ { "name": "a", "path": "/a" } ],
              "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 1 },
              "thresholds": { "iteration_duration": ["p(95)<2000"] } }
            """
        )
        #expect(refused.first?.contains("iteration_duration is measured for flows only") == true)
    }
}

struct CaptureExtractionTests {
    @Test(arguments: [
        (#"/orders/(\d+)$"#, "/orders/42", "42"),
        (#"\d+"#, "abc 123 def", "123"),
        (#"a|ab"#, "xab", "a"),
        (#"(a+)"#, "baaab", "aaa"),
        (#"<(.+?)>"#, "<a><b>", "a"),
        (#"<(.+)>"#, "<a><b>", "a><b"),
        (#"(?<id>[0-9a-f]{4})-"#, "id=beef-cafe", "beef"),
        (#"(?i)token=(\w+)"#, "TOKEN=abc;x", "abc"),
        (#"^x(y)?"#, "xz", "x"),
    ])
    func firstMatchReturnsTheFirstGroupOrTheWholeMatch(pattern: String, subject: String, expected: String) throws {
        #expect(try LinearRegex(pattern).firstMatch(in: subject) == expected)
    }

    @Test func noMatchIsNil() throws {
        #expect(try LinearRegex(#"/orders/(\d+)$"#).firstMatch(in: "/orders/x") == nil)
    }

    @Test func aCookieIsReadFromTheLastSetCookieThatSetsIt() {
        let headers = ResponseHeaders([
            ("Set-Cookie", "a=1; Path=/"), ("set-cookie", "session=old"), ("Set-Cookie", "session=new; HttpOnly"),
        ])
        #expect(RequestPlan.cookie("session", in: headers) == "new")
        #expect(RequestPlan.cookie("missing", in: headers) == nil)
    }
}

extension Serial.CLITests {
    /// A flow through `preflight run`: report.json has the flow section and `iteration_duration`, the HTML and the
    /// summary list the steps in order, a threshold on `iteration_duration` is judged, and two segments merge
    /// to the run's totals.
    @Test func aFlowRunReportsItsStepsInOrderAndTheWholeIteration() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await withTestServer(journeyRouter(Issued())) { port in
            let file = try Self.write(
                """
                { "name": "journey", "target": { "baseURL": "http://127.0.0.1:\(port)" },
                  "transport": { "mode": "real" },
                  "flow": [
                    { "name": "login", "method": "POST", "path": "/login",
                      "capture": { "token": { "json": "$.access_token" } } },
                    { "name": "me", "path": "/me", "headers": { "Authorization": "Bearer {{token}}" },
                      "checks": [ { "status": 200 } ] }
                  ],
                  "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 4 },
                  "thresholds": { "iteration_duration": ["p(95)<30000"], "checks": ["rate==1"] } }
                """,
                to: dir
            )
            let run = try await Self.preflight(["run", file, "--seed", "3"], in: dir)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(run.stdout.contains("1. login"))
            #expect(run.stdout.contains("2. me"))
            #expect(run.stdout.contains("2-step flow: p50"))
            let report = try #require(try Self.reports(in: dir).first)
            #expect(report.flow?.steps == ["login", "me"])
            #expect(report.flow?.stopped == 0)
            #expect(report.summary(.iterationDuration)?[.count] == 8)
            #expect(report.summary(.iterations)?[.count] == 8)
            #expect(report.thresholds.first { $0.metric == "iteration_duration" }?.ok == true)
            #expect(report.requests.map(\.name) == ["login", "me"])
            let html = try String(
                contentsOf: dir.appendingPathComponent("reports").appendingPathComponent(
                    try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("reports").path)
                        .first { $0 != "index.html" }!
                ).appendingPathComponent("report.html"),
                encoding: .utf8
            )
            #expect(html.contains("Flow: 2 steps, in order"))
            #expect(html.contains("whole iteration"))

            for i in 0..<2 {
                let shard = try await Self.preflight(
                    ["run", file, "--segment", "\(i)/2", "--out", "shards", "--quiet"],
                    in: dir
                )
                #expect(shard.status == 0, "\(shard.stderr)")
            }
            let shards = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("shards").path)
                .filter { $0 != "index.html" }.sorted()
            let merge = try await Self.preflight(
                ["merge"] + shards.map { "shards/\($0)" } + ["--out", "merged"],
                in: dir
            )
            #expect(merge.status == 0, "\(merge.stderr)")
            let mergedFolder = try #require(
                try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("merged").path)
                    .first { $0 != "index.html" }
            )
            let merged = try ReportReader.decode(
                Data(contentsOf: dir.appendingPathComponent("merged/\(mergedFolder)/report.json"))
            )
            #expect(merged.flow?.steps == ["login", "me"])
            #expect(merged.summary(.iterationDuration)?[.count] == 8)
            #expect(merged.thresholds.first { $0.metric == "iteration_duration" }?.ok == true)
        }
    }
}

struct CookieJarTests {
    let now = 1_800_000_000.0

    @Test func aCookieGoesBackToItsHostAndPathOnly() {
        var jar = CookieJar()
        jar.store("a=1; Path=/api", host: "api.example.com", path: "/login", now: now)
        jar.store("b=2", host: "api.example.com", path: "/account/login", now: now)
        #expect(jar.header(host: "api.example.com", path: "/api/items?x=1", secure: false, now: now) == "a=1")
        #expect(jar.header(host: "api.example.com", path: "/apiary", secure: false, now: now) == nil)
        // The default path is the request's directory.
        #expect(jar.header(host: "api.example.com", path: "/account/me", secure: false, now: now) == "b=2")
        #expect(jar.header(host: "other.example.com", path: "/api", secure: false, now: now) == nil)
    }

    @Test func aDomainCookieReachesSubdomainsAndAForeignDomainIsRefused() {
        var jar = CookieJar()
        jar.store("d=1; Domain=.example.com", host: "api.example.com", path: "/", now: now)
        jar.store("evil=1; Domain=attacker.test", host: "api.example.com", path: "/", now: now)
        #expect(jar.header(host: "www.example.com", path: "/", secure: false, now: now) == "d=1")
        #expect(jar.header(host: "example.com", path: "/", secure: false, now: now) == "d=1")
        #expect(jar.header(host: "attacker.test", path: "/", secure: false, now: now) == nil)
        // A top-level domain would reach every site under it (found by the differential fuzzer).
        var tld = CookieJar()
        tld.store("t=1; Domain=.com", host: "app.example.com", path: "/", now: now)
        #expect(tld.isEmpty)
        // An IP address is never a subdomain.
        var ip = CookieJar()
        ip.store("x=1; Domain=0.0.1", host: "127.0.0.1", path: "/", now: now)
        #expect(ip.isEmpty)
    }

    @Test func expiryMaxAgeAndSecureAreHonoured() {
        var jar = CookieJar()
        jar.store("s=1; Secure", host: "h", path: "/", now: now)
        jar.store("m=1; Max-Age=60", host: "h", path: "/", now: now)
        jar.store("e=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", host: "h", path: "/", now: now)
        #expect(jar.header(host: "h", path: "/", secure: false, now: now) == "m=1")
        #expect(jar.header(host: "h", path: "/", secure: true, now: now) == "s=1; m=1")
        #expect(jar.header(host: "h", path: "/", secure: false, now: now + 61) == nil)
        // Max-Age=0 deletes; a new value replaces the old one.
        jar.store("m=1; Max-Age=0", host: "h", path: "/", now: now)
        jar.store("s=2; Secure", host: "h", path: "/", now: now)
        #expect(jar.header(host: "h", path: "/", secure: true, now: now) == "s=2")
    }

    @Test func anExpiresReadsAsFoundationReadsTheThreeHTTPDateForms() {
        // Foundation's DateFormatter writes the dates; ours reads back the instant written.
        var epochs: [Double] = [0, 951_782_400, 1_709_164_800, 4_102_444_799, 2_147_483_647]
        epochs += stride(from: 0.0, through: 4_000_000_000, by: 7_777_777.7).map { $0.rounded(.down) }
        for format in [
            "EEE, dd MMM yyyy HH:mm:ss zzz", "EEE, dd-MMM-yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz",
        ] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = .gmt
            formatter.dateFormat = format
            // Two digits of year are 1970–2069 to RFC 6265: the years both readings share.
            for epoch in epochs where !format.contains("-yy ") || epoch < 3_155_760_000 {
                let text = formatter.string(from: Date(timeIntervalSince1970: epoch))
                #expect(CookieJar.cookieDate(text) == epoch, "\(text)")
            }
        }
    }

    @Test func anExpiresIsReadAsBrowsersReadItAndNothingElseIsADate() {
        // RFC 6265 §5.1.1: tokens in any order, two-digit years, asctime, any case, a zone ignored.
        let wednesday = 1_792_567_680.0  // Wed, 21 Oct 2026 07:28:00 GMT
        for text in [
            "Wed, 21 Oct 2026 07:28:00 GMT", "Wednesday, 21-Oct-26 07:28:00 GMT", "Wed Oct 21 07:28:00 2026",
            "21 oct 2026 7:28:0", "Wed, 21 OCTOBER 2026 07:28:00 UTC", "2026 Oct 21 07:28:00GMT",
        ] {
            #expect(CookieJar.cookieDate(text) == wednesday, "\(text)")
        }
        // A byte a header cannot carry as a date (this one stopped Foundation's DateFormatter: found by the
        // differential fuzzer), a missing part, a day past the month's end, an hour of 24, a year before 1601,
        // three digits of day or time.
        for text in [
            "Wed, 21\u{07B0}ct 2026 07:28:00 GM=/", "Wed, 21 Oct 2026", "Wed, 21 Oct 07:28:00",
            "Wed, 31 Feb 2026 07:28:00",
            "Wed, 29 Feb 2026 07:28:00", "Wed, 21 Oct 2026 24:00:00", "Wed, 21 Oct 1600 07:28:00",
            "Wed, 021 Oct 2026 07:28:00", "Wed, 21 Oct 2026 007:28:00", "", "\u{FFFD}\u{FFFD}",
        ] {
            #expect(CookieJar.cookieDate(text) == nil, "\(text.debugDescription)")
        }
        #expect(CookieJar.cookieDate("Thu, 29 Feb 2024 00:00:00 GMT") == 1_709_164_800)
        // An Expires that is not a date leaves a session cookie, as a browser does.
        var jar = CookieJar()
        jar.store("s=1; Expires=Wed, 21\u{07B0}ct 2026 07:28:00 GM=/", host: "h", path: "/", now: now)
        #expect(jar.header(host: "h", path: "/", secure: false, now: now + 1e9) == "s=1")
    }

    @Test func longerPathsComeFirst() {
        var jar = CookieJar()
        jar.store("root=1; Path=/", host: "h", path: "/", now: now)
        jar.store("deep=1; Path=/a/b", host: "h", path: "/", now: now)
        #expect(jar.header(host: "h", path: "/a/b/c", secure: false, now: now) == "deep=1; root=1")
    }
}
