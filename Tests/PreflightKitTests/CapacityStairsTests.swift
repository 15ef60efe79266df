import Foundation
import Histogram
import Hummingbird
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Stairs (SPEC §16): a fixed plan of rates that every shard of a segmented run follows in step, each stair judged
/// on its own data, and on the shards' sum by `merge`.
@Suite struct CapacityStairsMachineTests {
    func stairs(_ rates: [Double]) -> CapacitySearch {
        CapacitySearch.stairs(rates, timeUnit: 1, stepDuration: 30)
    }

    func run(_ s: CapacitySearch, against server: ModelServer, interruptAfter: Int? = nil) -> CapacitySearchMachine {
        var machine = CapacitySearchMachine(s)
        var action = machine.start()
        while case .run(let rate, let seconds, let purpose) = action {
            #expect(purpose == .stair && seconds == 30)
            if machine.steps.count == interruptAfter {
                machine.interrupted()
                break
            }
            action = machine.finished(server.figures(rate: rate, seconds: seconds))
        }
        return machine
    }

    @Test func everyStairRunsInOrderAndTheAnswerIsTheHighestBelowTheFirstBad() {
        // 4 workers × 20 ms: 200/s.
        let server = ModelServer(capacity: 200, service: 0.02, objective: 0.2)
        let machine = run(stairs([50, 100, 180, 250, 400]), against: server)
        #expect(machine.steps.map(\.rate) == [50, 100, 180, 250, 400], "a bad stair does not end the plan")
        #expect(machine.steps.map(\.good) == [true, true, true, false, false])
        #expect(machine.sustainableRate == 180)
        #expect(machine.confirmed == 180, "each stair is a hold")
        #expect(machine.firstFailingRate == 250)
        #expect(!machine.cappedByMaxRate)
        let section = CapacitySection(machine, objectives: ["http_req_duration p(95)<200"], totalSeconds: 165)
        #expect(section.stairs == [50, 100, 180, 250, 400])
        #expect(section.confirmed && section.confirmSeconds == 30)
        #expect(section.steps.allSatisfy { $0.purpose == "stair" })
        #expect(section.summaryLine.hasPrefix("sustainable 180/s"), "\(section.summaryLine)")
        #expect(section.summaryLine.contains("confirmed over 30s (a stair)"), "\(section.summaryLine)")
        #expect(section.boundSeconds == 5 * (30 + CapacitySearch.stairGap))
    }

    @Test func aGoodStairAboveABadOneDoesNotCount() {
        // The 100 stair is noisy (bad); 180 passes again. Sustainable is what held up to the first failure.
        var machine = CapacitySearchMachine(stairs([50, 100, 180]))
        _ = machine.start()
        let good = CapacitySearchMachine.Figures(offered: 1, achieved: 1, seconds: 30)
        var bad = good
        bad.failedThresholds = ["http_req_duration p(95)<200 (observed 250)"]
        _ = machine.finished(good)
        _ = machine.finished(bad)
        #expect(machine.finished(good) == .finish)
        #expect(machine.sustainableRate == 50 && machine.firstFailingRate == 100)
    }

    @Test func aFirstStairThatFailsLeavesNoRateAndSaysWhy() {
        let server = ModelServer(capacity: 20, service: 0.02, objective: 0.2)
        let machine = run(stairs([50, 100]), against: server)
        #expect(machine.sustainableRate == nil && machine.confirmed == nil)
        #expect(machine.stopReason?.hasPrefix("the first stair (50) failed") == true, "\(machine.stopReason ?? "")")
        #expect(CapacitySection(machine, objectives: [], totalSeconds: 1).summaryLine.hasPrefix("no sustainable rate"))
    }

    @Test func allGoodIsCappedAndAnInterruptIsUnconfirmed() {
        let server = ModelServer(capacity: 1000, service: 0.02, objective: 0.2)
        let all = run(stairs([50, 100]), against: server)
        #expect(all.cappedByMaxRate && all.confirmed == 100)
        let cut = run(stairs([50, 100, 150]), against: server, interruptAfter: 2)
        #expect(cut.steps.count == 2 && cut.confirmed == nil)
        #expect(cut.sustainableRate == 100, "the best stair so far, not confirmed")
        #expect(cut.stopReason?.contains("interrupted") == true)
    }
}

@Suite struct CapacityStairsLoaderTests {
    let loader = CapacitySearchLoaderTests()

    @Test func stairsAreReadWithAHoldsDefaultDuration() throws {
        let s = try loader.load(
            #"{ "executor": "capacity-search", "stairs": [100, "200", 400], "preAllocatedVUs": 10, "maxVUs": 50 }"#
        ).get()
        let search = try #require(s.load.executor.capacitySearch)
        #expect(search.stairs == [100, 200, 400])
        #expect(search.stepDuration == 30 && search.confirm == 30)
        #expect(search.startRate == 100 && search.maxRate == 400)
        #expect(s.load.issuingSeconds == 3 * (30 + CapacitySearch.stairGap))
    }

    @Test(arguments: [
        (#""stairs": [100, 200], "startRate": 50"#, "startRate: does not apply beside stairs"),
        (#""stairs": [100, 200], "confirm": "10s""#, "confirm: does not apply beside stairs"),
        (#""stairs": [200, 100]"#, "stairs go up"),
        (#""stairs": [100]"#, "must list 2 to 32 rates"),
        (#""stairs": [100, -5]"#, "stairs[1]"),
        (#""stairs": [100, 200], "model": "closed", "maxVUs": 8"#, "stairs: applies to the open model only"),
    ])
    func badStairsAreErrorsNamingTheKey(keys: String, expected: String) {
        guard
            case .failure(let e) = loader.load(#"{ "executor": "capacity-search", \#(keys), "preAllocatedVUs": 10 }"#)
        else {
            Issue.record("accepted")
            return
        }
        #expect("\(e)".contains(expected), "\(e)")
    }
}

extension MergeTests {
    static let stairsJSON = """
        { "name": "stairs", "target": { "baseURL": "http://127.0.0.1:9" },
          "requests": [ { "name": "features", "path": "/f", "checks": [ { "status": 200 } ] } ],
          "load": { "executor": "capacity-search", "stairs": [100, 200, 400], "stepDuration": "10s",
                    "preAllocatedVUs": 10, "maxVUs": 100 },
          "thresholds": { "http_req_duration": ["p(95)<100"], "capacity": ["value>=150"] } }
        """

    /// Shard `segment` of two: each stair's latencies (its share of the rate, 10 s each), judged and kept as a run
    /// of stairs keeps them.
    static func stairsShard(_ segment: String, stairs latencies: [[UInt64]]) throws -> Report {
        let scenario = try Self.scenario(stairsJSON)
        let search = try #require(scenario.load.executor.capacitySearch)
        let objectives = scenario.thresholds.filter(\.judgesACapacityStep)
        var machine = CapacitySearchMachine(search)
        _ = machine.start()
        var kept: [CapacityStairMetrics] = []
        for (i, values) in latencies.enumerated() {
            var m = RunMetrics(checkCounts: [1])
            var pair = LatencyPair()
            for ms in values {
                pair.corrected.record(ms * 1000)
                pair.uncorrected.record(ms * 1000)
            }
            m.requests[0].byStatus[200] = pair
            m.requests[0].checksPassed = [values.count]
            m.iterations = values.count
            let figures = CapacitySearchMachine.Figures.judged(
                m,
                requestNames: ["features"],
                seconds: 10,
                offered: search.stairs![i] / 2,
                thresholds: objectives,
                p95Early: nil,
                p95Late: nil
            )
            kept.append(CapacityStairMetrics(metrics: m, figures: figures))
            _ = machine.finished(figures)
        }
        var report = try shard(segment, latenciesMs: latencies.last ?? [], scenario: scenario)
        report.capacity = CapacitySection(machine, objectives: objectives.map(\.expression), totalSeconds: 40)
        report.capacityStairs = kept.map { Report.StairData($0, names: ["features"]) }
        return report
    }

    /// `count` latencies of 10 ms of which `slow` are 300 ms.
    static func latencies(_ count: Int, slow: Int = 0) -> [UInt64] {
        [UInt64](repeating: 10, count: count - slow) + [UInt64](repeating: 300, count: slow)
    }

    @Test func eachStairIsJudgedOnTheShardsSumNotOnEitherShard() throws {
        // Stair 100/s: shard 1 has 8 % slow answers (its own p95 300 ms: bad), shard 0 none; together 4 % (p95
        // 10 ms: good). Stair 400/s: 6 % slow in both, bad alone and together.
        let a = try Self.stairsShard(
            "0/2",
            stairs: [Self.latencies(500), Self.latencies(1000), Self.latencies(2000, slow: 120)]
        )
        let b = try Self.stairsShard(
            "1/2",
            stairs: [Self.latencies(500, slow: 40), Self.latencies(1000), Self.latencies(2000, slow: 120)]
        )
        #expect(a.capacity?.sustainableRate == 200)
        #expect(b.capacity?.sustainableRate == nil, "shard 1 alone fails its first stair")
        #expect(b.thresholds.first { $0.metric == "capacity" }?.ok == false)

        let merged = try ReportMerge.merge(Self.shards([a, b]))
        let capacity = try #require(merged.capacity)
        #expect(capacity.steps.map(\.verdict) == ["good", "good", "bad"])
        #expect(capacity.sustainableRate == 200 && capacity.confirmed)
        #expect(capacity.firstFailingRate == 400)
        #expect(capacity.steps.map(\.offeredPerSecond) == [100, 200, 400], "the shards' shares added")
        #expect(capacity.steps.map(\.iterations) == [1000, 2000, 4000])
        #expect(abs((capacity.steps[0].p95Ms ?? 0) - 10) < 0.1, "10 ms within HDR's 3 digits")
        #expect(merged.capacityStairs?.map(\.iterations) == [1000, 2000, 4000])
        // The report's figures are the sustainable stair's, and the gate passes on the merged answer.
        #expect(merged.requests[0].count == 2000)
        let gate = try #require(merged.thresholds.first { $0.metric == "capacity" })
        #expect(gate.ok && gate.observed == 200)
        #expect(merged.verdict == .pass, "\(merged.verdictReason)")
    }

    @Test func anAdaptiveSearchOrOtherStairsAreRefused() throws {
        let a = try Self.stairsShard("0/2", stairs: [Self.latencies(500), Self.latencies(1000), Self.latencies(2000)])
        var b = try Self.stairsShard("1/2", stairs: [Self.latencies(500), Self.latencies(1000), Self.latencies(2000)])
        b.capacity?.stairs = [100, 200, 300]
        #expect(throws: ReportMerge.Refusal.self) { try ReportMerge.merge(Self.shards([a, b])) }
        var adaptive = a
        adaptive.capacity?.stairs = nil
        do {
            _ = try ReportMerge.merge(Self.shards([adaptive, b]))
            Issue.record("merged")
        } catch {
            #expect(error.description.contains("an adaptive capacity search does not merge"), "\(error)")
        }
    }
}

extension Serial {
    @Suite struct CapacityStairsLiveTests {
        /// Two shards (`--segment 0/2`, `1/2`) run the same stairs at once against a server of 4 workers × 20 ms
        /// (200/s), each offering half of each stair; `merge` judges each stair on their sum. 60/s and 120/s are
        /// well inside the capacity, 400/s twice it.
        @Test func twoShardsRunTheStairsTogetherAndTheMergeFindsTheCapacity() async throws {
            try await withTestServer(Workers.router(workers: 4, service: .milliseconds(20))) { port in
                let dir = try CLITests.tempDir()
                defer { try? FileManager.default.removeItem(at: dir) }
                let file = try CLITests.write(
                    """
                    { "name": "stairs", "target": { "baseURL": "http://127.0.0.1:\(port)" },
                      "transport": { "mode": "real" }, "warmup": { "requests": 10 },
                      "requests": [ { "name": "work", "path": "/work" } ],
                      "load": { "executor": "capacity-search", "stairs": [60, 120, 400], "stepDuration": "3s",
                                "preAllocatedVUs": 40, "maxVUs": 200, "gracefulStop": "2s" },
                      "thresholds": { "http_req_duration": ["p(95)<200"], "capacity": ["value>=100"] } }
                    """,
                    to: dir
                )
                async let first = CLITests.preflight(
                    ["run", file, "--segment", "0/2", "--out", "shards", "--quiet"],
                    in: dir
                )
                async let second = CLITests.preflight(
                    ["run", file, "--segment", "1/2", "--out", "shards", "--quiet"],
                    in: dir
                )
                let shardRuns = try await [first, second]
                for run in shardRuns { #expect(run.status != ExitStatus.usage.rawValue, "\(run.stderr)") }
                let shards = try FileManager.default.contentsOfDirectory(
                    atPath: dir.appendingPathComponent("shards").path
                ).filter { $0.hasPrefix("stairs-") }.sorted()
                #expect(shards.count == 2)
                let merge = try await CLITests.preflight(
                    ["merge"] + shards.map { "shards/\($0)" } + ["--out", "merged"],
                    in: dir
                )
                let folder = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("merged").path)
                        .first { $0 != "index.html" }
                )
                let merged = try ReportReader.decode(
                    Data(contentsOf: dir.appendingPathComponent("merged/\(folder)/report.json"))
                )
                let capacity = try #require(merged.capacity)
                let steps = capacity.steps.map {
                    "\(Int($0.rate)) offered \(Int($0.offeredPerSecond)) achieved \(Int($0.achievedPerSecond)) "
                        + "\($0.verdict) \($0.why ?? "")"
                }
                #expect(merge.status == 0, "\(merge.stderr) \(steps)")
                #expect(capacity.steps.map(\.verdict) == ["good", "good", "bad"], "\(steps)")
                #expect(capacity.sustainableRate == 120 && capacity.confirmed, "\(steps)")
                // Each shard offered half; the merged stair offered the whole rate.
                for (step, rate) in zip(capacity.steps, [60.0, 120, 400]) {
                    #expect(abs(step.offeredPerSecond - rate) < 0.01 * rate, "\(steps)")
                }
                #expect(abs(capacity.steps[0].achievedPerSecond - 60) < 6, "\(steps)")
                #expect(merged.thresholds.first { $0.metric == "capacity" }?.ok == true)
                #expect(merged.capacityStairs?.count == 3)
            }
        }
    }
}
