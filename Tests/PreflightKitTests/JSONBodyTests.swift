import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct JSONBodyTemplateTests {
    func plan(_ json: String, dir: URL = URL(fileURLWithPath: "/tmp")) throws -> RequestPlan {
        let s = try ScenarioLoader(environment: [:]).load(data: Data(json.utf8), file: "x", baseDirectory: dir)
        return RequestPlan(scenario: s, seed: 1)
    }

    func body(_ p: RequestPlan, iteration: Int, vu: Int = 0) -> String {
        let text = http1(p.prepare(iteration: iteration, vu: vu))
        return String(text[text.range(of: "\r\n\r\n")!.upperBound...])
    }

    @Test func aWholePlaceholderTakesTheValuesJSONType() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "data": { "n": [5, 2.5], "b": [true, false], "s": ["5", "x"] },
              "requests": [ { "name": "w", "method": "POST", "path": "/w",
                "body": { "i": "{{iteration}}", "vu": "{{vu}}", "n": "{{n}}", "b": "{{b}}", "s": "{{s}}",
                          "forced": "{{n:string}}", "id": "id-{{iteration}}", "list": ["{{n}}", 1, null] } } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        )
        #expect(
            body(p, iteration: 0, vu: 3)
                == #"{"b":true,"forced":"5","i":0,"id":"id-0","list":[5,1,null],"n":5,"s":"5","vu":3}"#
        )
        #expect(
            body(p, iteration: 7)
                == #"{"b":false,"forced":"2.5","i":7,"id":"id-7","list":[2.5,1,null],"n":2.5,"s":"x","vu":0}"#
        )
    }

    @Test func valuesWithQuotesAndControlsAreEscapedInsideAndAsWholeStrings() throws {
        let p = try plan(
            #"""
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "data": { "v": ["with \"quote\"", "back\\slash", "line\nbreak\ttab", "nul\u0000bell\u0007"] },
              "requests": [ { "name": "w", "method": "POST", "path": "/w",
                "body": { "whole": "{{v}}", "inside": "<{{v}}>", "k-{{v}}": 1 } } ],
              "load": { "executor": "per-vu-iterations" } }
            """#
        )
        let values = ["with \"quote\"", "back\\slash", "line\nbreak\ttab", "nul\u{0}bell\u{7}"]
        for (i, v) in values.enumerated() {
            let text = body(p, iteration: i)
            let doc = try #require(
                try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                "\(text)"
            )
            #expect(doc["whole"] as? String == v)
            #expect(doc["inside"] as? String == "<\(v)>")
            #expect(doc["k-\(v)"] as? Int == 1)
        }
        #expect(body(p, iteration: 3).contains(#"nul\u0000bell\u0007"#))
    }

    @Test func csvValuesAreTypedAsACSVReaderWould() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pf-csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "v\n42\n-1.5e3\n007\ntrue\nTrue\n1.\nNaN\n".write(
            to: dir.appendingPathComponent("v.csv"),
            atomically: true,
            encoding: .utf8
        )
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" }, "data": { "v": { "csv": "v.csv" } },
              "requests": [ { "name": "w", "method": "POST", "path": "/w", "body": { "v": "{{v}}", "t": "{{v:string}}" } } ],
              "load": { "executor": "per-vu-iterations" } }
            """,
            dir: dir
        )
        let sent = (0..<7).map { body(p, iteration: $0) }
        #expect(
            sent == [
                #"{"t":"42","v":42}"#, #"{"t":"-1.5e3","v":-1.5e3}"#, #"{"t":"007","v":"007"}"#,
                #"{"t":"true","v":true}"#, #"{"t":"True","v":"True"}"#, #"{"t":"1.","v":"1."}"#,
                #"{"t":"NaN","v":"NaN"}"#,
            ]
        )
    }

    @Test func jsonNumbersFollowJSONsGrammar() {
        for yes in ["0", "-0", "42", "-1.5", "1e3", "1E-3", "2.5e+10"] { #expect(JSONEscape.isNumber(yes), "\(yes)") }
        for no in ["", "-", "007", "1.", ".5", "+1", "1e", "0x10", "NaN", "Infinity", "1 ", "١"] {
            #expect(!JSONEscape.isNumber(no), "\(no)")
        }
    }

    @Test func anUnknownPlaceholderTypeIsAScenarioErrorWithTheFix() throws {
        let json = """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" }, "data": { "n": [1] },
              "requests": [ { "name": "w", "method": "POST", "path": "/w", "body": { "a": "{{n:int}}", "b": "{{nope}}" } } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        let error = try #require(throws: ScenarioError.self) { _ = try plan(json) }
        #expect(error.problems.map(\.path) == ["$.requests[0].body"])
        #expect(error.problems[0].message.contains("{{n:int}}"))
        #expect(error.problems[0].hint?.contains("{{n:string}}") == true)
    }

    @Test func aRequestWithoutPlaceholdersInItsJSONBodyIsEncodedOnce() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "requests": [ { "name": "w", "method": "POST", "path": "/w", "body": { "q": "a \\"b\\"", "n": [1.5, true] } } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        )
        #expect(p.requests[0].constantMessage != nil)
        #expect(body(p, iteration: 0) == #"{"n":[1.5,true],"q":"a \"b\""}"#)
    }

    @Test func headerValuesFoldLineBreaksAndPathValuesArePercentEncoded() throws {
        let p = try plan(
            """
            { "name": "x", "target": { "baseURL": "http://127.0.0.1" },
              "data": { "v": ["a/b?c#d%e f&g=h+i", "x\\r\\nX-Injected: 1"] },
              "requests": [ { "name": "g", "path": "/p/{{v}}?q={{v}}", "headers": { "X-V": "{{v}}" } } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        )
        let first = http1(p.prepare(iteration: 0, vu: 0))
        #expect(
            first.hasPrefix("GET /p/a%2Fb%3Fc%23d%25e%20f%26g%3Dh%2Bi?q=a%2Fb%3Fc%23d%25e%20f%26g%3Dh%2Bi HTTP/1.1")
        )
        let second = http1(p.prepare(iteration: 1, vu: 0))
        #expect(second.contains("\r\nX-V: x  X-Injected: 1\r\n"))
        #expect(!second.contains("\r\nX-Injected"))
    }
}

extension Serial {
    /// Bodies as a server that parses every one of them sees them.
    @Suite struct JSONBodyServerTests {
        @Test func everyHostileValueArrivesAsValidJSONEqualToTheDataValue() async throws {
            let values = [
                "plain", "with \"quote\"", "back\\slash", "line\nbreak", "tab\there", "nul\u{0}byte", "emoji 🛫✈️",
                String(repeating: "xé\"\\", count: 2_560),
            ]
            let received = NIOLockedValueBox<[JSONValue?]>([])
            let router = Router()
            router.post("/w") { request, _ -> Response in
                let bytes = try await request.body.collect(upTo: 1 << 20)
                let doc = try? JSONValue.parse(Data(bytes.readableBytesView))
                received.withLockedValue { $0.append(doc) }
                return Response(status: doc == nil ? .badRequest : .ok)
            }
            let encoded = String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
            try await withTestServer(router) { port in
                let s = try scenario(
                    """
                    { "name": "bodies", "target": { "baseURL": "http://127.0.0.1:${PORT}" }, "transport": { "mode": "real" },
                      "data": { "v": { "values": \(encoded), "order": "unique" } },
                      "requests": [ { "name": "w", "method": "POST", "path": "/w",
                        "body": { "v": "{{v}}", "i": "{{iteration}}", "id": "id-{{iteration}}", "wrapped": "[{{v}}]" },
                        "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": \(values.count) } }
                    """,
                    port: port
                )
                _ = try await runScenario(s)
            }
            let seen = received.withLockedValue { $0 }
            #expect(seen.count == values.count)
            for (i, got) in seen.enumerated() {
                let doc = try #require(got, "request \(i) was not valid JSON")
                #expect(doc["v"] == .string(values[i]))
                #expect(doc["wrapped"] == .string("[\(values[i])]"))
                #expect(doc["i"] == .number(Double(i)))
                #expect(doc["id"] == .string("id-\(i)"))
            }
        }

        @Test func aPathValueArrivesAsOneSegmentAndAHeaderCannotBeInjected() async throws {
            let seen = NIOLockedValueBox<[(path: String, header: String?, injected: String?)]>([])
            let router = Router()
            router.get("/p/:v") { request, _ -> String in
                seen.withLockedValue {
                    $0.append((request.uri.path, request.headers[.init("X-V")!], request.headers[.init("X-Injected")!]))
                }
                return "ok"
            }
            try await withTestServer(router) { port in
                let s = try scenario(
                    """
                    { "name": "paths", "target": { "baseURL": "http://127.0.0.1:${PORT}" }, "transport": { "mode": "real" },
                      "data": { "v": ["a/b?c#d%e f", "x\\r\\nX-Injected: 1"] },
                      "requests": [ { "name": "g", "path": "/p/{{v}}", "headers": { "X-V": "{{v}}" }, "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 2 } }
                    """,
                    port: port
                )
                _ = try await runScenario(s)
            }
            let got = seen.withLockedValue { $0 }
            #expect(got.count == 2)
            #expect(got.first?.path.removingPercentEncoding == "/p/a/b?c#d%e f")
            #expect(got.first?.path.hasPrefix("/p/a%2Fb") == true)
            #expect(got.last?.header == "x  X-Injected: 1")
            #expect(got.last?.injected == nil)
        }
    }
}
