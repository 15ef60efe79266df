import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Every numeric field at the edges of its range and far beyond: validation either refuses the value with its
/// range in the message, or the engine works with it without trapping — the executor's state machine is driven
/// (a bounded number of events, then stop and abandon at the far end of the run), the request plan, the mock's
/// latencies, the report's executor parameters and the thresholds are computed. A trap fails the whole test run.
@Suite struct NumericExtremesTests {
    /// Values for number fields: inside, at and past every limit, and absurd.
    static let numbers: [JSONValue] = [
        .number(0), .number(-1), .number(0.5), .number(1), .number(1e-9), .number(599), .number(600), .number(99_999),
        .number(100_000),
        .number(100_001), .number(1e7), .number(10_000_001), .number(1e9), .number(1e9 + 1), .number(1e15),
        .number(9_007_199_254_740_992), .number(1e19), .number(1e308), .number(-1e308), .string("NaN"),
        .string("Infinity"), .string("1e309"), .string("-0"), .string("0x10"),
    ]

    /// Values for duration fields: the same idea in the duration grammar, plus numbers (a type error).
    static let durations: [JSONValue] = [
        .string("0s"), .string("1ms"), .string("0.000001ms"), .string("1us"), .string("8760h"), .string("8761h"),
        .string("2600000h"), .string("9999999999h"), .string("1e308s"), .string("-1s"), .string("NaNs"),
        .string("infs"), .number(5),
    ]

    enum Kind { case number, duration }

    struct Field: CustomStringConvertible, Sendable {
        var executor: String
        var key: [String]
        var kind: Kind
        var description: String { "\(executor).\(key.joined(separator: "."))" }
    }

    /// Each executor's block with every numeric key present.
    static let executors: [String: JSONValue] = [
        "constant-arrival-rate": .object([
            "executor": .string("constant-arrival-rate"), "rate": .number(10), "timeUnit": .string("1s"),
            "duration": .string("2s"), "preAllocatedVUs": .number(2), "maxVUs": .number(4),
            "maxBacklog": .number(10), "gracefulStop": .string("1s"),
        ]),
        "ramping-arrival-rate": .object([
            "executor": .string("ramping-arrival-rate"), "startRate": .number(1), "timeUnit": .string("1s"),
            "stages": .array([.object(["target": .number(10), "duration": .string("2s")])]),
            "preAllocatedVUs": .number(2), "maxVUs": .number(4), "maxBacklog": .number(10),
        ]),
        "constant-vus": .object([
            "executor": .string("constant-vus"), "vus": .number(2), "duration": .string("2s"),
            "thinkTime": .string("10ms"), "gracefulStop": .string("1s"),
        ]),
        "ramping-vus": .object([
            "executor": .string("ramping-vus"), "startVUs": .number(1),
            "stages": .array([.object(["target": .number(3), "duration": .string("2s")])]),
            "thinkTime": .object(["min": .string("1ms"), "max": .string("5ms")]),
        ]),
        "per-vu-iterations": .object([
            "executor": .string("per-vu-iterations"), "vus": .number(2), "iterations": .number(3),
            "maxDuration": .string("5s"), "thinkTime": .string("0s"),
        ]),
    ]

    static let fields: [Field] = [
        Field(executor: "constant-arrival-rate", key: ["rate"], kind: .number),
        Field(executor: "constant-arrival-rate", key: ["timeUnit"], kind: .duration),
        Field(executor: "constant-arrival-rate", key: ["duration"], kind: .duration),
        Field(executor: "constant-arrival-rate", key: ["preAllocatedVUs"], kind: .number),
        Field(executor: "constant-arrival-rate", key: ["maxVUs"], kind: .number),
        Field(executor: "constant-arrival-rate", key: ["maxBacklog"], kind: .number),
        Field(executor: "constant-arrival-rate", key: ["gracefulStop"], kind: .duration),
        Field(executor: "ramping-arrival-rate", key: ["startRate"], kind: .number),
        Field(executor: "ramping-arrival-rate", key: ["timeUnit"], kind: .duration),
        Field(executor: "ramping-arrival-rate", key: ["stages", "0", "target"], kind: .number),
        Field(executor: "ramping-arrival-rate", key: ["stages", "0", "duration"], kind: .duration),
        Field(executor: "ramping-arrival-rate", key: ["maxBacklog"], kind: .number),
        Field(executor: "constant-vus", key: ["vus"], kind: .number),
        Field(executor: "constant-vus", key: ["duration"], kind: .duration),
        Field(executor: "constant-vus", key: ["thinkTime"], kind: .duration),
        Field(executor: "constant-vus", key: ["gracefulStop"], kind: .duration),
        Field(executor: "ramping-vus", key: ["startVUs"], kind: .number),
        Field(executor: "ramping-vus", key: ["stages", "0", "target"], kind: .number),
        Field(executor: "ramping-vus", key: ["stages", "0", "duration"], kind: .duration),
        Field(executor: "ramping-vus", key: ["thinkTime", "max"], kind: .duration),
        Field(executor: "per-vu-iterations", key: ["vus"], kind: .number),
        Field(executor: "per-vu-iterations", key: ["iterations"], kind: .number),
        Field(executor: "per-vu-iterations", key: ["maxDuration"], kind: .duration),
        Field(executor: "per-vu-iterations", key: ["thinkTime"], kind: .duration),
    ]

    /// Scenario-level numbers outside the load block, set on a constant-vus scenario.
    static let scenarioFields: [(key: [String], kind: Kind)] = [
        (["http", "timeout"], .duration), (["http", "connectTimeout"], .duration), (["http", "maxBodyBytes"], .number),
        (["warmup", "requests"], .number), (["requests", "0", "weight"], .number),
        (["requests", "0", "timeout"], .duration), (["transport", "probe", "timeout"], .duration),
        (["transport", "mock", "latency", "median"], .duration), (["transport", "mock", "latency", "p99"], .duration),
        (["transport", "mock", "latency", "max"], .duration), (["transport", "mock", "errorRate"], .number),
        (["transport", "mock", "errorStatus"], .number),
    ]

    static func setting(_ path: ArraySlice<String>, _ value: JSONValue, in doc: JSONValue) -> JSONValue {
        guard let key = path.first else { return value }
        switch doc {
        case .object(var o):
            o[key] = setting(path.dropFirst(), value, in: o[key] ?? .object([:]))
            return .object(o)
        case .array(var a):
            let i = Int(key)!
            a[i] = setting(path.dropFirst(), value, in: a[i])
            return .array(a)
        default:
            return doc
        }
    }

    static func scenario(load: JSONValue) -> JSONValue {
        .object([
            "name": .string("extremes"), "target": .object(["baseURL": .string("http://127.0.0.1:9")]),
            "http": .object(["timeout": .string("5s"), "connectTimeout": .string("1s"), "maxBodyBytes": .number(1024)]),
            "warmup": .object(["requests": .number(1)]),
            "transport": .object([
                "probe": .object(["timeout": .string("1s")]),
                "mock": .object([
                    "latency": .object([
                        "distribution": .string("lognormal"), "median": .string("10ms"), "p99": .string("50ms"),
                        "max": .string("1s"),
                    ]),
                    "errorRate": .number(0.1), "errorStatus": .number(503),
                ]),
            ]),
            "requests": .array([
                .object(["name": .string("r"), "path": .string("/r"), "weight": .number(2), "timeout": .string("1s")])
            ]),
            "load": load,
            "thresholds": .object(["http_req_duration": .array([.string("p(99.99)<1e308"), .string("max>=-1e308")])]),
        ])
    }

    /// Loads `doc`; when it is accepted, works the engine's arithmetic over it. Returns whether it was accepted.
    static func exercise(_ doc: JSONValue) throws -> Bool {
        let data = try JSONEncoder().encode(doc)
        let scenario: Scenario
        do {
            scenario = try ScenarioLoader(environment: [:])
                .load(data: data, file: "x.json", baseDirectory: URL(fileURLWithPath: "/tmp"))
        } catch {
            // Refused: the message names a place and a reason; nothing trapped.
            #expect(!error.problems.isEmpty)
            #expect(error.problems.allSatisfy { $0.path.hasPrefix("$") && !$0.message.isEmpty })
            return false
        }
        for shards in [1, 2] {
            #expect(FuzzTargets.drive(scenario.load.executor, shard: shards - 1, shards: shards) == [])
        }
        _ = Report.executorInfo(scenario.load)
        _ = scenario.load.issuingSeconds
        let plan = RequestPlan(scenario: scenario, seed: 7)
        for i in [0, 1, 1_000_000, Int(Int32.max)] {
            _ = plan.prepare(request: 0, iteration: i, vu: i % 7, timeout: scenario.http.timeout)
        }
        let model = MockLatencyModel(scenario.transport.mock.latency)
        for i in 0..<20 {
            let s = model.seconds(seed: 1, name: "r", index: i)
            #expect(s.isFinite && s >= 0)
        }
        return true
    }

    @Test(arguments: fields)
    func aLoadFieldAtAnyExtremeIsRefusedOrRunsWithoutATrap(_ field: Field) throws {
        let values = field.kind == .number ? Self.numbers : Self.durations
        var accepted = 0
        for value in values {
            let load = Self.setting(field.key[...], value, in: Self.executors[field.executor]!)
            if try Self.exercise(Self.scenario(load: load)) { accepted += 1 }
        }
        // Each field takes some of the values and refuses others: the test exercised both paths.
        #expect(accepted > 0, "\(field) accepted nothing")
        #expect(accepted < values.count, "\(field) refused nothing")
    }

    @Test func aScenarioFieldAtAnyExtremeIsRefusedOrRunsWithoutATrap() throws {
        for (key, kind) in Self.scenarioFields {
            var accepted = 0
            let values = kind == .number ? Self.numbers : Self.durations
            for value in values {
                let doc = Self.setting(key[...], value, in: Self.scenario(load: Self.executors["constant-vus"]!))
                if try Self.exercise(doc) { accepted += 1 }
            }
            #expect(accepted > 0 && accepted < values.count, "\(key)")
        }
    }
}
