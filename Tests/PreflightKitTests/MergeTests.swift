import Foundation
import Histogram
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// `preflight merge` (#14) on reports built from recorded values: exact percentiles, refusals that name the shard
/// and the field, thresholds judged on the merged data.
@Suite struct MergeTests {
    static let scenarioJSON = """
        { "name": "merge", "target": { "baseURL": "http://127.0.0.1:9" },
          "requests": [ { "name": "features", "path": "/f", "checks": [ { "status": 200 } ] } ],
          "load": { "executor": "constant-vus", "vus": 3, "duration": "10s" },
          "thresholds": { "http_req_duration": ["p(99)<300"], "dropped_iterations": ["count<10"] } }
        """

    static func scenario(_ json: String = scenarioJSON) throws -> Scenario {
        try ScenarioLoader(environment: [:]).load(
            data: Data(json.utf8),
            file: "merge.json",
            baseDirectory: URL(fileURLWithPath: "/tmp")
        )
    }

    /// A shard's report: `latenciesMs` recorded for request 0 with status 200, `dropped` dropped iterations.
    static func shard(
        _ segment: String?,
        latenciesMs: [UInt64],
        dropped: Int = 0,
        startedAt: Date = Date(timeIntervalSince1970: 1_800_000_000),
        scenario: Scenario? = nil
    ) throws -> Report {
        let s = try scenario ?? Self.scenario()
        var metrics = RunMetrics(checkCounts: [1])
        var pair = LatencyPair()
        for ms in latenciesMs {
            pair.corrected.record(ms * 1000)
            pair.uncorrected.record(ms * 1000)
        }
        metrics.requests[0].byStatus[200] = pair
        metrics.requests[0].checksPassed = [latenciesMs.count]
        metrics.iterations = latenciesMs.count
        metrics.droppedIterations = dropped
        metrics.vusMax = 1
        let result = RunResult(
            metrics: metrics,
            timeseries: [
                TimePoint(t: 1, requests: latenciesMs.count, errors: 0, p50: nil, p95: nil, p99: nil, vus: 1)
            ],
            bucketSeconds: 1,
            startedAt: startedAt,
            endedAt: startedAt.addingTimeInterval(10),
            durationSeconds: 10,
            interrupted: false,
            aborted: false,
            dataExhausted: false,
            warnings: [],
            eventLoops: 1,
            cpuSeconds: 1,
            dispatchLateness: LatencyHistogram.latency(),
            harness: HarnessLoad(cpuSeconds: 1, cores: 2, duration: 10, lateness: LatencyHistogram.latency()),
            segment: segment.flatMap(ExecutionSegment.init) ?? .whole
        )
        let plan = RequestPlan(scenario: s, seed: 1)
        return Report.build(
            scenario: s,
            plan: plan,
            result: result,
            transport: TransportDecision(mode: .real, reason: "test"),
            seed: 1
        )
    }

    static func shards(_ reports: [Report]) -> [ReportMerge.Shard] {
        reports.enumerated().map { ReportMerge.Shard(name: "shard-\($0.offset).json", report: $0.element) }
    }

    @Test func mergedPercentilesAreTheWholeRunsNotAnAverageOfTheShards() throws {
        // 3,000 latencies, the slow tail (1 %, 30 values at 900–929 ms) all in segment 2.
        var rng = SplitMix64(seed: 7)
        let fast = (0..<2_970).map { _ in 5 + rng.next() % 40 }
        let tail = (0..<30).map { 900 + UInt64($0) }
        let parts = [Array(fast[0..<1000]), Array(fast[1000..<2000]), Array(fast[2000...]) + tail]
        let whole = try Self.shard(nil, latenciesMs: fast + tail)
        let merged = try ReportMerge.merge(
            Self.shards(try parts.enumerated().map { try Self.shard("\($0.offset)/3", latenciesMs: $0.element) })
        )
        #expect(merged.run.segment == "0,1,2/3")
        #expect(merged.requests[0].count == 3000)
        // The same histogram, bucket for bucket: percentiles equal; min and max are read back as their bucket's
        // value, within HDR's 3 significant digits of the exact ones.
        #expect(merged.histograms == whole.histograms)
        let m = try #require(merged.requests[0].latency)
        let w = try #require(whole.requests[0].latency)
        #expect([m.p50, m.p90, m.p95, m.p99, m.p999] == [w.p50, w.p90, w.p95, w.p99, w.p999])
        #expect(abs(m.min - w.min) <= w.min * 0.001 && abs(m.max - w.max) <= w.max * 0.001)
        #expect(abs(m.mean - w.mean) <= w.mean * 0.001)
        let p99 = try #require(merged.requests[0].latency?.p99)
        #expect(p99 == whole.requests[0].latency?.p99)
        // Averaging the shards' p99s would say something else entirely.
        let shardP99 = try parts.enumerated().map {
            try #require(try Self.shard("\($0.offset)/3", latenciesMs: $0.element).requests[0].latency?.p99)
        }
        #expect(abs(shardP99.reduce(0, +) / 3 - p99) > 100)
    }

    @Test func aThresholdCanFailOnTheMergedDataWhereEveryShardPasses() throws {
        // `dropped_iterations count<10`: 6 per shard passes three times; 18 together does not.
        let reports = try (0..<3).map { try Self.shard("\($0)/3", latenciesMs: [10, 20, 30], dropped: 6) }
        for r in reports { #expect(r.verdict == .pass, "\(r.verdictReason)") }
        let merged = try ReportMerge.merge(Self.shards(reports))
        #expect(merged.verdict == .fail)
        #expect(merged.exitStatus == .thresholdsFailed)
        let dropped = try #require(merged.thresholds.first { $0.metric == "dropped_iterations" })
        #expect(dropped.observed == 18 && !dropped.ok)
        #expect(merged.verdictReason.contains("dropped_iterations count<10"))
    }

    @Test func theTimeSeriesIsAlignedByWallClock() throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let a = try Self.shard("0/2", latenciesMs: [10], startedAt: t0)
        let b = try Self.shard("1/2", latenciesMs: [10, 10], startedAt: t0.addingTimeInterval(2))
        let merged = try ReportMerge.merge(Self.shards([a, b]))
        #expect(merged.run.startedAt == t0)
        #expect(merged.run.durationSeconds == 12)
        #expect(merged.timeseries.map(\.t) == [1, 3])
        #expect(merged.timeseries.map(\.requests) == [1, 2])
    }

    @Test func mismatchedShardsAreRefusedNamingTheShardAndTheField() throws {
        let good = try (0..<3).map { try Self.shard("\($0)/3", latenciesMs: [10]) }
        func refusal(_ reports: [Report], allowPartial: Bool = false) -> String? {
            do {
                _ = try ReportMerge.merge(Self.shards(reports), allowPartial: allowPartial)
                return nil
            } catch {
                return error.description
            }
        }
        let other = try Self.scenario(Self.scenarioJSON.replacingOccurrences(of: "\"merge\"", with: "\"other\""))
        let foreign = try Self.shard("2/3", latenciesMs: [10], scenario: other)
        #expect(refusal([good[0], good[1], foreign])?.hasPrefix("shard-2.json: scenario.sha256") == true)
        let fourWay = try Self.shard("2/4", latenciesMs: [10])
        #expect(refusal([good[0], good[1], fourWay])?.contains("shard-2.json: run.segment 2/4") == true)
        #expect(refusal([good[0], good[1], good[1]]) == "segment 1/3 twice: shard-1.json and shard-2.json")
        #expect(refusal([good[0], good[2]])?.hasPrefix("segments 1/3 missing") == true)
        let whole = try Self.shard(nil, latenciesMs: [10])
        #expect(refusal([good[0], whole])?.hasPrefix("shard-1.json: run.segment is null") == true)
        var layout = good[2]
        layout.histograms["features"]?["200"]?.corrected.significantDigits = 2
        #expect(refusal([good[0], good[1], layout])?.contains("histograms.features.200") == true)
        var schema = good[2]
        schema.schema = "preflight.report/v9"
        #expect(refusal([good[0], good[1], schema])?.hasPrefix("shard-2.json: schema") == true)

        // --allow-partial merges what is there and says so in the verdict.
        let partial = try ReportMerge.merge(Self.shards([good[0], good[2]]), allowPartial: true)
        #expect(partial.run.segment == "0,2/3")
        #expect(partial.verdict == .inconclusive)
        #expect(partial.verdictReason.hasPrefix("partial: 1 of 3 segments missing"))
    }
}
