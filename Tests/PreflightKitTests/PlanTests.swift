import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct ArrivalScheduleTests {
    @Test func aConstantRatePutsArrivalIAtIOverRate() {
        let s = ArrivalSchedule(constantRate: 200, timeUnit: 1, duration: 3)
        #expect(s.total == 600)
        #expect(s.offset(ofArrival: 0) == 0)
        #expect(abs(s.offset(ofArrival: 100)! - 0.5) < 1e-9)
        #expect(s.offset(ofArrival: 600) == nil)
    }

    @Test func timeUnitScalesTheRate() {
        let s = ArrivalSchedule(constantRate: 60, timeUnit: 60, duration: 10)
        #expect(s.total == 10)
        #expect(abs(s.offset(ofArrival: 3)! - 3) < 1e-9)
    }

    @Test func aRampIntegratesTheRate() {
        // 0 → 100/s over 2 s holds 100 arrivals; arrival 25 is due at t where 25·t² = 25 → t = 1.
        let s = ArrivalSchedule(
            startRate: 0,
            timeUnit: 1,
            stages: [.init(target: 100, duration: 2), .init(target: 0, duration: 2)]
        )
        #expect(s.total == 200)
        #expect(abs(s.offset(ofArrival: 25)! - 1) < 1e-9)
        #expect(abs(s.offset(ofArrival: 100)! - 2) < 1e-9)
        // Ramp down: 100 → 0 over 2 s; 75 arrivals after 1 s into the stage.
        #expect(abs(s.offset(ofArrival: 175)! - 3) < 1e-9)
        let offsets = (0..<s.total).map { s.offset(ofArrival: $0)! }
        #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(offsets.last! < 4)
    }

    @Test func vuTargetInterpolates() {
        let v = VUSchedule(startVUs: 0, stages: [.init(target: 10, duration: 10), .init(target: 2, duration: 4)])
        #expect(v.target(at: 0) == 0)
        #expect(v.target(at: 5) == 5)
        #expect(v.target(at: 10) == 10)
        #expect(v.target(at: 12) == 6)
        #expect(v.target(at: 100) == 2)
    }
}

struct RequestPlanTests {
    func plan(_ json: String, seed: UInt64 = 1) throws -> RequestPlan {
        let s = try ScenarioLoader(environment: [:])
            .load(data: Data(json.utf8), file: "x", baseDirectory: URL(fileURLWithPath: "/tmp"))
        return RequestPlan(scenario: s, seed: seed)
    }

    @Test func requestsAreEncodedWithHostHeadersAndBody() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://example.test:8080/base", "headers": { "Accept": "application/json", "X-Team": "a" } },
              "data": { "sym": ["A B"] },
              "requests": [ { "name": "post", "method": "POST", "path": "/items/{{sym}}?vu={{vu}}",
                              "headers": { "X-Team": "b{{iteration}}" }, "body": { "symbol": "{{sym}}" } } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        )
        let r = p.prepare(iteration: 7, vu: 3)
        let text = http1(r, target: "http://example.test:8080/base")
        #expect(
            text
                == "POST /base/items/A%20B?vu=3 HTTP/1.1\r\nHost: example.test:8080\r\nAccept: application/json\r\n"
                + "X-Team: b7\r\nContent-Type: application/json\r\nUser-Agent: preflight/\(PreflightInfo.version)\r\n"
                + "Content-Length: 16\r\n\r\n{\"symbol\":\"A B\"}"
        )
        #expect(r.message.method == "POST")
        #expect(r.message.path == "/items/A%20B?vu=3")
        #expect(r.wantsBody == false)
    }

    @Test func aRequestWithoutPlaceholdersIsEncodedOnce() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "requests": [ { "name": "get", "path": "/ping" } ], "load": { "executor": "per-vu-iterations" } }
            """
        )
        #expect(p.requests[0].constantMessage != nil)
        #expect(http1(p.prepare(iteration: 0, vu: 0)).hasPrefix("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
    }

    @Test func weightsAreExactOverACycle() throws {
        let cycle = RequestPlan.smoothWeightedCycle([5, 1, 2])
        #expect(cycle.count == 8)
        #expect(cycle.filter { $0 == 0 }.count == 5)
        #expect(cycle.filter { $0 == 1 }.count == 1)
        #expect(cycle.filter { $0 == 2 }.count == 2)
        #expect(RequestPlan.smoothWeightedCycle([3]) == [0])
    }

    @Test func dataFeedOrders() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "data": { "s": ["a", "b", "c"], "r": { "values": ["1", "2", "3", "4"], "order": "random" },
                        "u": { "values": ["x", "y"], "order": "unique" } },
              "requests": [ { "name": "get", "path": "/{{s}}/{{r}}/{{u}}" } ], "load": { "executor": "per-vu-iterations" } }
            """,
            seed: 42
        )
        let s = p.feeds.firstIndex { $0.name == "s" }!
        let r = p.feeds.firstIndex { $0.name == "r" }!
        let u = p.feeds.firstIndex { $0.name == "u" }!
        #expect((0..<6).map { p.valueIndex(feed: s, iteration: $0)! } == [0, 1, 2, 0, 1, 2])
        #expect(p.valueIndex(feed: u, iteration: 1) == 1)
        #expect(p.valueIndex(feed: u, iteration: 2) == nil)
        #expect(p.iterationLimit == 2)
        let draws = (0..<200).map { p.valueIndex(feed: r, iteration: $0)! }
        #expect(Set(draws) == [0, 1, 2, 3])
        let again = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "data": { "r": { "values": ["1", "2", "3", "4"], "order": "random" } },
              "requests": [ { "name": "get", "path": "/{{r}}" } ], "load": { "executor": "per-vu-iterations" } }
            """,
            seed: 42
        )
        #expect((0..<200).map { again.valueIndex(feed: 0, iteration: $0)! } == draws)
    }

    @Test func checksEvaluateOnAResponse() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" }, "data": { "sym": ["AAPL"] },
              "requests": [ { "name": "get", "path": "/{{sym}}", "checks": [
                { "status": [200, 204] }, { "json": "$.symbol", "equals": "{{sym}}" }, { "json": "$.features.rsi", "exists": true },
                { "json": "$.list[1]", "equals": 2 }, { "json": "$.missing", "exists": false }, { "header": "X-Cache", "equals": "HIT" },
                { "header": "X-Cache", "matches": "^H" }, { "bodyContains": "AAPL" }, { "json": "$.symbol", "equals": "MSFT" } ] } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        )
        var outcome = HTTPOutcome()
        outcome.status = 200
        outcome.headers = ["x-cache": "HIT"]
        outcome.body = Array(#"{"symbol":"AAPL","features":{"rsi":55.1},"list":[1,2]}"#.utf8)
        var results: [Bool] = []
        p.evaluateChecks(0, outcome: outcome, iteration: 0, vu: 0, regexes: p.compileRegexes()[0], into: &results)
        #expect(results == [true, true, true, true, true, true, true, true, false])
    }
}

struct SupportTests {
    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func durationsParseAndFormat() {
        #expect(DurationText.seconds("250ms") == 0.25)
        #expect(DurationText.seconds("1m30s") == 90)
        #expect(DurationText.seconds("1.5s") == 1.5)
        #expect(DurationText.seconds("2h") == 7200)
        #expect(DurationText.seconds("30") == nil)
        #expect(DurationText.seconds("s") == nil)
        #expect(DurationText.format(seconds: 90) == "1m30s")
        #expect(DurationText.format(seconds: 0.25) == "250ms")
    }

    @Test func templatesAndPaths() throws {
        let t = try Template.parse("/a/{{x}}/b{{ y }}").get()
        #expect(t.variables == ["x", "y"])
        #expect(t.render { $0.uppercased() } == "/a/X/bY")
        #expect((try? Template.parse("/a/{{x").get()) == nil)
        let doc = try JSONValue.parse(Data(#"{"a":{"b c":[1,{"d":true}]}}"#.utf8))
        #expect(try JSONPath.parse("$.a['b c'][1].d").get().evaluate(doc) == .bool(true))
        #expect(try JSONPath.parse("$.a['b c'][-2]").get().evaluate(doc) == .number(1))
        #expect(try JSONPath.parse("$.a.x").get().evaluate(doc) == nil)
    }

    @Test func encodedHistogramsRoundTripAndMerge() {
        var a = LatencyHistogram.latency()
        var b = LatencyHistogram.latency()
        for v in stride(from: UInt64(100), to: 2_000_000, by: 997) { a.record(v) }
        for v in stride(from: UInt64(50), to: 90_000, by: 13) { b.record(v) }
        var merged = a
        merged.add(b)
        var decoded = EncodedHistogram(a).decode()
        decoded.add(EncodedHistogram(b).decode())
        #expect(decoded.totalCount == merged.totalCount)
        for p in [50.0, 90, 99, 99.9] {
            #expect(decoded.valueAtPercentile(p) == merged.valueAtPercentile(p))
        }
        // The exact maximum is not kept, only its bucket.
        #expect(decoded.valuesAreEquivalent(decoded.valueAtPercentile(100), merged.valueAtPercentile(100)))
    }
}
