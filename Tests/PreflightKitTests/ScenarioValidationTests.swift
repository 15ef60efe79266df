import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// A valid scenario as a JSON object, changed by each case.
private func base() -> [String: JSONValue] {
    [
        "name": .string("features"),
        "target": .object(["baseURL": .string("http://127.0.0.1:8000")]),
        "data": .object(["symbol": .array([.string("AAPL")])]),
        "requests": .array([
            .object([
                "name": .string("features"),
                "path": .string("/api/v1/features/quant/{{symbol}}"),
                "checks": .array([.object(["status": .number(200)])]),
            ])
        ]),
        "load": .object([
            "executor": .string("constant-arrival-rate"), "rate": .number(10), "duration": .string("1s"),
            "preAllocatedVUs": .number(2),
        ]),
        "thresholds": .object(["http_req_duration{name:features}": .array([.string("p(95)<300")])]),
    ]
}

private func load(_ doc: [String: JSONValue]) throws(ScenarioError) -> Scenario {
    let data = try! JSONEncoder().encode(JSONValue.object(doc))
    return try ScenarioLoader(variables: [:], environment: [:])
        .load(data: data, file: "x.json", baseDirectory: URL(fileURLWithPath: "/tmp"))
}

private func problems(_ doc: [String: JSONValue]) -> [ScenarioProblem] {
    do {
        _ = try load(doc)
        return []
    } catch {
        return error.problems
    }
}

private func setting(_ keyPath: [String], _ value: JSONValue?, in doc: inout [String: JSONValue]) {
    guard let first = keyPath.first else { return }
    if keyPath.count == 1 {
        doc[first] = value
        return
    }
    if case .array(var items)? = doc[first], let i = Int(keyPath[1]) {
        guard case .object(var inner) = items[i] else { return }
        setting(Array(keyPath.dropFirst(2)), value, in: &inner)
        items[i] = .object(inner)
        doc[first] = .array(items)
        return
    }
    guard case .object(var inner)? = doc[first] else { return }
    setting(Array(keyPath.dropFirst()), value, in: &inner)
    doc[first] = .object(inner)
}

struct ValidationCase: CustomTestStringConvertible, Sendable {
    var change: [(path: [String], value: JSONValue?)]
    var expectedPath: String
    var expectedMessage: String
    var testDescription: String { "\(expectedPath): \(expectedMessage)" }
}

private let req = ["requests", "0"]

private let cases: [ValidationCase] = [
    .init(
        change: [(["load", "rate"], .number(-5))],
        expectedPath: "$.load.rate",
        expectedMessage: "must be > 0, got -5"
    ),
    .init(change: [(["tresholds"], .object([:]))], expectedPath: "$.tresholds", expectedMessage: "unknown key"),
    .init(change: [(["name"], nil)], expectedPath: "$.name", expectedMessage: "is required"),
    .init(
        change: [(["name"], .string("my scenario"))],
        expectedPath: "$.name",
        expectedMessage: "must be letters, digits, - _ . (at most 80), got \"my scenario\""
    ),
    .init(
        change: [(["target", "baseURL"], .string("ftp://host"))],
        expectedPath: "$.target.baseURL",
        expectedMessage: "\"ftp://host\" scheme must be http or https, got ftp"
    ),
    .init(
        change: [(["target", "baseURL"], .string("${NOPE}"))],
        expectedPath: "$.target.baseURL",
        expectedMessage: "variable ${NOPE} is not set"
    ),
    .init(
        change: [(["requests"], .array([]))],
        expectedPath: "$.requests",
        expectedMessage: "must have at least one request"
    ),
    .init(
        change: [(req + ["path"], .string("api/x"))],
        expectedPath: "$.requests[0].path",
        expectedMessage: "must start with /, got \"api/x\""
    ),
    .init(
        change: [(req + ["path"], .string("/x/{{sym}}"))],
        expectedPath: "$.requests[0].path",
        expectedMessage: "uses {{sym}}, which no data feed or capture defines"
    ),
    .init(
        change: [(req + ["method"], .string("get"))],
        expectedPath: "$.requests[0].method",
        expectedMessage: "must be an upper-case HTTP method, got \"get\""
    ),
    .init(
        change: [(req + ["checks"], .array([.object(["status": .number(200), "json": .string("$.a")])]))],
        expectedPath: "$.requests[0].checks[0]",
        expectedMessage: "has status and json; a check tests one thing"
    ),
    .init(
        change: [(req + ["checks"], .array([.object(["json": .string("symbol"), "exists": .bool(true)])]))],
        expectedPath: "$.requests[0].checks[0].json",
        expectedMessage: "\"symbol\" is not a JSON path we understand"
    ),
    .init(
        change: [(req + ["checks"], .array([.object(["json": .string("$.a")])]))],
        expectedPath: "$.requests[0].checks[0]",
        expectedMessage: "needs one of equals, exists, matches"
    ),
    .init(
        change: [(req + ["checks"], .array([.object(["status": .number(700)])]))],
        expectedPath: "$.requests[0].checks[0].status",
        expectedMessage: "must be <= 599, got 700"
    ),
    .init(
        change: [(["load", "executor"], .string("constant-rate"))],
        expectedPath: "$.load.executor",
        expectedMessage:
            "must be one of capacity-search, constant-arrival-rate, constant-vus, per-vu-iterations, ramping-arrival-rate, ramping-vus, shared-iterations; got string \"constant-rate\""
    ),
    .init(
        change: [(["load", "duration"], .string("30"))],
        expectedPath: "$.load.duration",
        expectedMessage: "is not a duration: \"30\""
    ),
    .init(
        change: [(["load", "duration"], .number(30))],
        expectedPath: "$.load.duration",
        expectedMessage: "must be a duration string, got number 30"
    ),
    .init(
        change: [(["load", "preAllocatedVUs"], nil)],
        expectedPath: "$.load.preAllocatedVUs",
        expectedMessage: "is required"
    ),
    .init(
        change: [(["load", "preAllocatedVUs"], .number(20)), (["load", "maxVUs"], .number(5))],
        expectedPath: "$.load.maxVUs",
        expectedMessage: "must be >= preAllocatedVUs (20), got 5"
    ),
    // Numbers that used to trap (#12): each is refused with its real limit.
    .init(
        change: [(["load", "rate"], .number(1e308))],
        expectedPath: "$.load.rate",
        expectedMessage: "must be at most 10000000 per second, got 1e+308"
    ),
    .init(
        change: [(["load", "duration"], .string("2600000h"))],
        expectedPath: "$.load.duration",
        expectedMessage: "must be at most 8760h (a year), got \"2600000h\""
    ),
    .init(
        change: [(["http"], .object(["timeout": .string("9999999999h")]))],
        expectedPath: "$.http.timeout",
        expectedMessage: "must be at most 8760h (a year), got \"9999999999h\""
    ),
    .init(
        change: [(["load"], .object(["executor": .string("per-vu-iterations"), "iterations": .number(1e18)]))],
        expectedPath: "$.load.iterations",
        expectedMessage: "must be <= 1000000000, got 1e+18"
    ),
    .init(
        change: [
            (
                ["load"],
                .object([
                    "executor": .string("ramping-vus"),
                    "stages": .array([.object(["target": .number(1e19), "duration": .string("1s")])]),
                ])
            )
        ],
        expectedPath: "$.load.stages[0].target",
        expectedMessage: "must be <= 100000, got 1e+19"
    ),
    .init(
        change: [(["load", "thinkTime"], .string("1s"))],
        expectedPath: "$.load.thinkTime",
        expectedMessage: "applies to closed models only"
    ),
    .init(
        change: [(["load", "vus"], .number(3))],
        expectedPath: "$.load.vus",
        expectedMessage: "unknown key"
    ),
    .init(
        change: [(["thresholds"], .object(["http_req_duraton": .array([.string("p(95)<300")])]))],
        expectedPath: "$.thresholds.http_req_duraton[0]",
        expectedMessage: "\"p(95)<300\": unknown metric \"http_req_duraton\""
    ),
    .init(
        change: [(["thresholds"], .object(["http_req_duration{name:nope}": .array([.string("p(95)<300")])]))],
        expectedPath: "$.thresholds[\"http_req_duration{name:nope}\"][0]",
        expectedMessage: "\"p(95)<300\": no request is named \"nope\""
    ),
    .init(
        change: [(["thresholds"], .object(["http_req_duration{method:GET}": .array([.string("p(95)<300")])]))],
        expectedPath: "$.thresholds[\"http_req_duration{method:GET}\"][0]",
        expectedMessage: "\"p(95)<300\": metric http_req_duration has no tag \"method\""
    ),
    .init(
        change: [(["thresholds"], .object(["http_req_failed": .array([.string("p(95)<0.01")])]))],
        expectedPath: "$.thresholds.http_req_failed[0]",
        expectedMessage: "\"p(95)<0.01\": aggregation p(95) does not apply to a rate metric"
    ),
    .init(
        change: [(["thresholds"], .object(["checks": .array([.string("rate>>0.9")])]))],
        expectedPath: "$.thresholds.checks[0]",
        expectedMessage: "\"rate>>0.9\": unexpected \">\" after the operator >"
    ),
    .init(
        change: [
            (["transport"], .object(["probe": .object(["missingStatuses": .array([.number(404), .number(200)])])]))
        ],
        expectedPath: "$.transport.probe.missingStatuses[1]",
        expectedMessage: "must be >= 400, got 200"
    ),
    .init(
        change: [(["data", "symbol"], .array([]))],
        expectedPath: "$.data.symbol",
        expectedMessage: "must not be empty"
    ),
    .init(
        change: [(["data", "symbol"], .object(["csv": .string("no-such-file.csv")]))],
        expectedPath: "$.data.symbol.csv",
        expectedMessage: "cannot read /tmp/no-such-file.csv"
    ),
    .init(
        change: [(["data", "symbol"], .object(["values": .array([.string("A")]), "order": .string("shuffled")]))],
        expectedPath: "$.data.symbol.order",
        expectedMessage: "must be one of \"sequential\", \"random\", \"unique\", got \"shuffled\""
    ),
    .init(
        change: [
            (
                ["load"],
                .object([
                    "executor": .string("ramping-arrival-rate"), "preAllocatedVUs": .number(1), "stages": .array([]),
                ])
            )
        ],
        expectedPath: "$.load.stages",
        expectedMessage: "must have at least one stage"
    ),
    .init(
        change: [(["kind"], .string("drill"))],
        expectedPath: "$.kind",
        expectedMessage: "must be \"load\" here, got \"drill\""
    ),
    .init(
        change: [(["transport"], .object(["probe": .object(["request": .string("nope")])]))],
        expectedPath: "$.transport.probe.request",
        expectedMessage: "no request is named \"nope\""
    ),
    .init(
        change: [(["warmup"], .object(["requests": .number(-1)]))],
        expectedPath: "$.warmup.requests",
        expectedMessage: "must be >= 0, got -1"
    ),
    .init(
        change: [(["http"], .object(["timeout": .string("0s")]))],
        expectedPath: "$.http.timeout",
        expectedMessage: "must be longer than 0, got \"0s\""
    ),
]

struct ScenarioValidationTests {
    @Test func theBaseScenarioIsValid() throws {
        let s = try load(base())
        #expect(s.name == "features")
        #expect(s.requests.first?.checks.count == 1)
        #expect(s.load.maxVUs == 2)
        #expect(s.load.maxBacklog == 10)
    }

    @Test(arguments: cases)
    func aMalformedScenarioIsReportedAtItsPath(_ c: ValidationCase) {
        var doc = base()
        for (path, value) in c.change { setting(path, value, in: &doc) }
        let found = problems(doc)
        #expect(
            found.contains { $0.path == c.expectedPath && $0.message == c.expectedMessage },
            "got \(found.map(\.description))"
        )
    }

    @Test func everyProblemInAFileIsReportedAtOnce() {
        var doc = base()
        setting(["load", "rate"], .number(-5), in: &doc)
        setting(["name"], nil, in: &doc)
        setting(["colour"], .string("red"), in: &doc)
        setting(req + ["path"], .string("nope"), in: &doc)
        let paths = Set(problems(doc).map(\.path))
        #expect(paths == ["$.load.rate", "$.name", "$.colour", "$.requests[0].path"])
    }

    @Test func anUnknownKeyGetsADidYouMeanHint() {
        var doc = base()
        setting(["tresholds"], .object([:]), in: &doc)
        #expect(problems(doc).first { $0.path == "$.tresholds" }?.hint == "did you mean \"thresholds\"?")
    }

    @Test func invalidJSONIsReportedWithItsPosition() {
        do {
            _ = try ScenarioLoader(environment: [:])
                .load(
                    data: Data("{\n  \"name\": x\n}".utf8),
                    file: "x.json",
                    baseDirectory: URL(fileURLWithPath: "/tmp")
                )
            Issue.record("accepted invalid JSON")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].path == "$")
            #expect(error.problems[0].message == "is not valid JSON: invalid value at line 2, column 11")
        }
    }

    @Test func withoutThresholdsAFailedRunCanNotPass() throws {
        var doc = base()
        setting(["thresholds"], nil, in: &doc)
        let defaults = try load(doc).thresholds
        #expect(defaults.map(\.metric) == ["http_req_failed", "checks"])
        #expect(defaults.allSatisfy { $0.isDefault })
        setting(["thresholds"], .object([:]), in: &doc)
        #expect(try load(doc).thresholds.isEmpty)
    }

    @Test func variablesExpandFromVarsThenEnvironmentThenDefault() throws {
        var doc = base()
        setting(["target", "baseURL"], .string("http://${HOST:-localhost}:${PORT}"), in: &doc)
        setting(["load", "rate"], .string("${RATE:-7}"), in: &doc)
        let data = try JSONEncoder().encode(JSONValue.object(doc))
        let loader = ScenarioLoader(variables: ["PORT": "9001"], environment: ["PORT": "1", "HOST": "127.0.0.2"])
        let s = try loader.load(data: data, file: "x", baseDirectory: URL(fileURLWithPath: "/tmp"))
        #expect(s.target.baseURL == TargetURL(scheme: "http", host: "127.0.0.2", port: 9001, basePath: ""))
        guard let e = s.load.executor.definition as? ConstantArrivalRate else {
            Issue.record("wrong executor")
            return
        }
        #expect(e.rate == 7)
    }

    @Test func variableDefaultsFollowTheShell() {
        let diag = Diagnostics()
        let expander = VariableExpander(variables: ["EMPTY": "", "SET": "v"], environment: [:])
        let cases: [(String, String)] = [
            ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${UNSET:-d}", "d"), ("${UNSET-d}", "d"), ("${SET:-d}", "v"),
            ("${SET-d}", "v"), ("${EMPTY}", ""), ("a${UNSET:-}b", "ab"),
        ]
        for (text, want) in cases {
            #expect(expander.expand(string: text, path: "$", diag: diag) == want, "\(text)")
        }
        #expect(diag.problems.isEmpty)
    }

    @Test func csvAndJSONFeedsAreRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "symbol,name\nAAPL,\"Apple, Inc.\"\nMSFT,Microsoft\n".write(
            to: dir.appendingPathComponent("u.csv"),
            atomically: true,
            encoding: .utf8
        )
        try "[\"X\", \"Y\", 3]".write(to: dir.appendingPathComponent("v.json"), atomically: true, encoding: .utf8)
        var doc = base()
        setting(
            ["data"],
            .object([
                "symbol": .object(["csv": .string("u.csv")]),
                "n": .object(["json": .string("v.json"), "order": .string("unique")]),
            ]),
            in: &doc
        )
        let data = try JSONEncoder().encode(JSONValue.object(doc))
        let s = try ScenarioLoader(environment: [:]).load(data: data, file: "x", baseDirectory: dir)
        #expect(s.data.first { $0.name == "symbol" }?.values == ["AAPL", "MSFT"])
        #expect(s.data.first { $0.name == "n" }?.values == ["X", "Y", "3"])
        #expect(s.data.first { $0.name == "n" }?.order == .unique)
    }

    @Test func everyShippedScenarioValidates() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scenarios")
        let files = try ScenarioLoader.scenarioFiles([dir.path])
        #expect(files.count >= 2)
        for file in files {
            #expect(throws: Never.self) { _ = try ScenarioLoader(environment: [:]).load(file: file) }
        }
    }
}

struct SchemaTests {
    static let scenarios = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scenarios")

    @Test func theSchemaNamesExactlyTheKeysTheLoaderAccepts() throws {
        let data = try Data(contentsOf: Self.scenarios.appendingPathComponent("schema.json"))
        let schema = try JSONValue.parse(data)
        guard case .object(let props)? = schema["properties"] else {
            Issue.record("no properties")
            return
        }
        #expect(Set(props.keys) == Set(ScenarioLoader.topLevelKeys))
        guard case .array(let executors)? = schema["properties"]?["load"]?["oneOf"] else {
            Issue.record("no executors")
            return
        }
        var found: [String: Set<String>] = [:]
        for e in executors {
            guard case .object(let p)? = e["properties"], case .string(let name)? = p["executor"]?["const"] else {
                continue
            }
            found[name] = Set(p.keys).subtracting(["executor", "gracefulStop"])
        }
        let registered = Dictionary(uniqueKeysWithValues: ExecutorRegistry.all.map { ($0.name, Set($0.keys)) })
        #expect(found == registered)
    }
}

@Suite struct SecretsInLabelsTests {
    /// A check's label reaches report.json and report.html: a value from a variable shows as written.
    @Test func aCheckComparingWithASecretIsLabelledWithTheVariableNotItsValue() throws {
        let json = """
            { "name": "s", "target": { "baseURL": "http://127.0.0.1:1" },
              "requests": [ { "name": "r", "path": "/",
                "checks": [ { "header": "X-Nope", "equals": "Bearer ${ADMIN_TOKEN}" },
                            { "json": "$.token", "matches": "^${ADMIN_TOKEN}$" },
                            { "bodyContains": "${ADMIN_TOKEN}" },
                            { "header": "X-Plain", "equals": "visible" } ] } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        let s = try ScenarioLoader(environment: ["ADMIN_TOKEN": "s3cr3t-value"])
            .load(data: Data(json.utf8), file: "x", baseDirectory: URL(fileURLWithPath: "/tmp"))
        let labels = s.requests[0].checks.map(\.label)
        #expect(labels.allSatisfy { !$0.contains("s3cr3t") }, "\(labels)")
        #expect(labels[0] == "header X-Nope == Bearer ${ADMIN_TOKEN}")
        #expect(labels[1] == "$.token matches /^${ADMIN_TOKEN}$/")
        #expect(labels[2] == "body contains ${ADMIN_TOKEN}")
        #expect(labels[3] == "header X-Plain == visible")
        // The check itself still compares with the value.
        guard case .header(_, .equals(let v, _)) = s.requests[0].checks[0].kind else {
            Issue.record("not a header check")
            return
        }
        #expect(v == .string("Bearer s3cr3t-value"))
    }
}

@Suite struct HostileScenarioValuesTests {
    @Test func controlCharactersInProblemsAreShownEscaped() {
        let p = ScenarioProblem(path: "$.name", message: "got \"a\r\nforged: ok\u{1b}[31m\"", hint: "tab\there")
        #expect(!p.description.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(p.description.contains(#"\r\n"#))
        #expect(p.description.contains(#"\u{1B}"#))
    }

    @Test func anExplicitCSVColumnThatIsMissingIsAnErrorEvenInAOneColumnFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "sym\nAAPL\nMSFT\n".write(to: dir.appendingPathComponent("u.csv"), atomically: true, encoding: .utf8)
        func load(_ feed: String) throws -> Scenario {
            let json = """
                { "name": "c", "target": { "baseURL": "http://127.0.0.1:1" },
                  "data": { "symbol": \(feed) },
                  "requests": [ { "name": "r", "path": "/{{symbol}}" } ],
                  "load": { "executor": "per-vu-iterations" } }
                """
            return try ScenarioLoader(environment: [:]).load(data: Data(json.utf8), file: "x", baseDirectory: dir)
        }
        // By the feed's name, a one-column file serves it whatever its header says.
        #expect(throws: Never.self) { _ = try load(#"{ "csv": "u.csv" }"#) }
        do {
            _ = try load(#"{ "csv": "u.csv", "column": "symbol" }"#)
            Issue.record("accepted a missing column")
        } catch {
            #expect((error as? ScenarioError)?.problems.first?.message == "the CSV has no column \"symbol\"")
        }
    }
}
