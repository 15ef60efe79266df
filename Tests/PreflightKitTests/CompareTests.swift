import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// `preflight compare` (#15, first slice): a regression gate against a stored run of the same scenario.
@Suite struct CompareTests {
    /// A report of `MergeTests.scenarioJSON` whose latencies are `count` values around `centerMs` (±20 %).
    static func run(centerMs: Double, count: Int = 2000, seed: UInt64 = 1, scenario: Scenario? = nil) throws -> Report {
        var rng = SplitMix64(seed: seed)
        let values = (0..<count).map { _ in
            UInt64((centerMs * (0.8 + 0.4 * Double(rng.next() >> 11) * 0x1.0p-53)).rounded())
        }
        return try MergeTests.shard(nil, latenciesMs: values, scenario: scenario)
    }

    static func limit(_ text: String) throws -> ReportComparison.Limit {
        try ReportComparison.Limit.parse(text).get()
    }

    @Test func aTwentyPercentShiftInP95IsFlaggedAndAnEqualRunIsNot() throws {
        let base = try Self.run(centerMs: 100)
        let slower = try Self.run(centerMs: 120, seed: 2)
        let p95 = try Self.limit("http_req_duration{name:features}:p(95):10%")
        let rows = try ReportComparison.compare(baseline: base, new: slower, limits: [p95])
        #expect(rows.count == 1)
        #expect(rows[0].outcome == .regression)
        #expect(rows[0].name == "regression{http_req_duration{name:features}:p(95)}")
        let change = try #require(rows[0].changePercent)
        #expect(change > 15 && change < 25, "\(change)")
        // The same values again: no change at all.
        let same = try ReportComparison.compare(baseline: base, new: try Self.run(centerMs: 100), limits: [p95])
        #expect(same[0].outcome == .withinPrecision)
        #expect(same[0].changePercent == 0)
        // Faster is never a regression.
        let faster = try ReportComparison.compare(baseline: slower, new: base, limits: [p95])
        #expect(faster[0].outcome == .ok)
        #expect((faster[0].changePercent ?? 0) < 0)
    }

    @Test func aShiftWithinTheHistogramsPrecisionIsNotARegression() throws {
        // 0.1 % slower: HDR's 3 significant digits cannot tell it apart, even against a 0 % limit.
        let base = try Self.run(centerMs: 1000)
        let nudged = try Self.run(centerMs: 1001)
        let rows = try ReportComparison.compare(
            baseline: base,
            new: nudged,
            limits: [try Self.limit("http_req_duration:p(95):0%")]
        )
        #expect(rows[0].outcome == .withinPrecision, "\(rows[0])")
    }

    @Test func aSmallSampleIsNotJudged() throws {
        let rows = try ReportComparison.compare(
            baseline: try Self.run(centerMs: 100, count: 500),
            new: try Self.run(centerMs: 300, count: 500),
            limits: [try Self.limit("http_req_duration:p(95):10%")]
        )
        #expect(rows[0].outcome == .notJudged("500 requests on one side, fewer than the minimum 1000"))
        #expect(!rows[0].failed)
    }

    @Test func runToRunNoiseFromEarlierReportsWidensTheBand() throws {
        let base = try Self.run(centerMs: 100)
        let new = try Self.run(centerMs: 112, seed: 9)
        let limit = try Self.limit("http_req_duration:p(95):10%")
        #expect(try ReportComparison.compare(baseline: base, new: new, limits: [limit])[0].outcome == .regression)
        // Earlier runs that swung between 90 and 125 ms: 12 % is within their noise.
        let noisy = try [90.0, 125, 95, 120].enumerated().map { try Self.run(centerMs: $1, seed: UInt64(20 + $0)) }
        let rows = try ReportComparison.compare(baseline: base, new: new, limits: [limit], noiseRuns: noisy)
        guard case .withinNoise(let band) = rows[0].outcome else {
            Issue.record("expected within noise, got \(rows[0].outcome)")
            return
        }
        #expect(band > 12)
    }

    @Test func anotherScenarioIsRefusedUnlessForced() throws {
        let other = try MergeTests.scenario(
            MergeTests.scenarioJSON.replacingOccurrences(of: "\"merge\"", with: "\"other\"")
        )
        let base = try Self.run(centerMs: 100)
        let foreign = try Self.run(centerMs: 100, scenario: other)
        let limit = try Self.limit("http_req_duration:p(95):10%")
        #expect(throws: ReportComparison.Refusal.self) {
            try ReportComparison.compare(baseline: base, new: foreign, limits: [limit])
        }
        #expect(try ReportComparison.compare(baseline: base, new: foreign, limits: [limit], force: true).count == 1)
    }

    @Test func limitsAreParsedWithClearErrors() throws {
        let l = try Self.limit("http_req_duration{name:features}:p(99.9):12.5%")
        #expect(l.spec.metric == "http_req_duration{name:features}")
        #expect(l.spec.aggregation == .percentile(99.9))
        #expect(l.percent == 12.5)
        #expect(try Self.limit("http_req_failed:rate:50").percent == 50)
        for bad in [
            "http_req_duration:p(95)", "http_req_duration:p(95):-1%", "nope:p(95):10%", "http_req_duration:avg:x",
        ] {
            guard case .failure(let r) = ReportComparison.Limit.parse(bad) else {
                Issue.record("\(bad) was accepted")
                continue
            }
            #expect(r.description.hasPrefix("--max-regression \(bad):"))
        }
        // A request name the baseline does not have.
        guard
            case .failure = ReportComparison.Limit.parse("http_req_duration{name:nope}:p(95):10%", requestNames: ["x"])
        else {
            Issue.record("an unknown request name was accepted")
            return
        }
    }

    @Test func errorRateAndChecksAreJudgedInTheirDirection() throws {
        let base = try Self.run(centerMs: 100)
        var worse = try Self.run(centerMs: 100)
        // 5 % of the new run's checks failed where none did.
        worse.requests[0].checkResults[0].failed = 100
        worse.requests[0].checkResults[0].passed = 1900
        let rows = try ReportComparison.compare(
            baseline: base,
            new: worse,
            limits: [try Self.limit("checks:rate:1%")]
        )
        #expect(rows[0].outcome == .regression)
        #expect(abs((rows[0].changePercent ?? 0) - 5) < 0.01)
    }
    /// #32, item 7: the change column is signed as the numbers moved, with better/worse beside it; a drop in
    /// requests from 1,200 to 400 read "+66.7 %" (the sign meant "worse").
    @Test func theChangeIsSignedAsTheNumbersMovedWithTheDirectionBesideIt() throws {
        let base = try Self.run(centerMs: 100, count: 1200)
        let new = try Self.run(centerMs: 100, count: 400)
        let fewer = try ReportComparison.compare(
            baseline: base,
            new: new,
            limits: [try Self.limit("http_reqs:count:10%")],
            minCount: 100
        )
        #expect(fewer[0].outcome == .regression)
        #expect(fewer[0].changePercent.map { ($0 * 10).rounded() / 10 } == 66.7, "the limit is judged on the worsening")
        #expect(fewer[0].signedChangePercent.map { ($0 * 10).rounded() / 10 } == -66.7)
        #expect(fewer[0].direction == "worse")
        #expect(fewer[0].changeText == "-66.7 % (worse)")
        let faster = try ReportComparison.compare(
            baseline: try Self.run(centerMs: 120, seed: 2),
            new: try Self.run(centerMs: 100),
            limits: [try Self.limit("http_req_duration:p(95):10%")]
        )
        #expect(faster[0].changeText.hasPrefix("-"), "\(faster[0].changeText)")
        #expect(faster[0].changeText.hasSuffix("(better)"))
        let table = ReportComparison.table(fewer, baseline: base, new: new)
        #expect(table.contains("-66.7 % (worse)"), "\(table)")
        #expect(!table.contains("+66.7 %"))
    }
}
