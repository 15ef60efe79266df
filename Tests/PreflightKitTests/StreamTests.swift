import Foundation
import HTTPTypes
import Histogram
import Hummingbird
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct StreamOptionTests {
    @Test func aJSONStreamIsAKindAndAFile() throws {
        #expect(try StreamOption.parse("json=out/run.jsonl").get() == .json(path: "out/run.jsonl"))
        #expect(try StreamOption.parse("JSON=a=b.jsonl").get() == .json(path: "a=b.jsonl"))
    }

    @Test(arguments: [
        ("run.jsonl", "write it as KIND=VALUE"), ("json=", "json needs a value"),
        ("influxdb=http://x", "unknown kind \"influxdb\"; use json=FILE"),
    ])
    func aStreamThatCannotBeUsedSaysHowToWriteIt(_ text: String, _ message: String) {
        guard case .failure(let problem) = StreamOption.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(problem.description.contains(message), "\(problem)")
        #expect(problem.description.hasPrefix("--stream \(text)"))
    }

    @Test func aFileThatCannotBeCreatedIsNamed() {
        #expect {
            _ = try StreamOption.json(path: "/nonexistent-dir/run.jsonl").makeSink()
        } throws: { error in
            "\(error)".contains("--stream json=/nonexistent-dir/run.jsonl: cannot create the file")
        }
    }
}

struct LiveBucketTests {
    static func bucket() -> LiveBucket {
        var stats = IntervalStats()
        var features = RequestInterval()
        for (status, n) in [(200, 90), (503, 8), (0, 2)] { features.byStatus[status] = n }
        for v in 1...100 {
            features.latency.corrected.record(UInt64(v * 1000))
            features.latency.uncorrected.record(UInt64(v * 500))
            stats.latency.record(UInt64(v * 1000))
        }
        features.checksPassed = 90
        features.checksFailed = 10
        stats.requests = 100
        stats.errors = 10
        stats.activeVUs = 7
        stats.byRequest[0] = features
        return LiveBucket(
            index: 4,
            bucketSeconds: 1,
            startTime: 1_800_000_000,
            stats: stats,
            names: ["features"],
            droppedIterations: 3
        )
    }

    @Test func aBucketSaysWhatTheReportsTimeSeriesSaysAndMore() throws {
        let b = Self.bucket()
        #expect(b.t == 5 && b.time == 1_800_000_005)
        #expect(b.requests == 100 && b.errors == 10 && b.vus == 7 && b.droppedIterations == 3)
        #expect(b.p95 == 95.039)
        let r = try #require(b.byRequest.first)
        #expect(r.name == "features" && r.count == 100 && r.failed == 10)
        #expect(r.statuses == ["200": 90, "503": 8, "0": 2])
        #expect(r.corrected?.p95 == 95.039 && r.uncorrected?.p95 == 47.519)
    }

    @Test func samplesCarryK6sNamesAndTheRunsTags() {
        let samples = Self.bucket().samples(tags: [("scenario", "s"), ("run_id", "r1")])
        let reqs = samples.filter { $0.metric == "http_reqs" }
        #expect(reqs.map(\.value).reduce(0, +) == 100)
        #expect(reqs.allSatisfy { $0.kind == .counter && $0.time == 1_800_000_005 })
        #expect(reqs.first?.tags.map(\.name) == ["name", "run_id", "scenario", "status"])
        #expect(samples.first { $0.metric == "http_req_failed" }?.value == 0.1)
        #expect(samples.first { $0.metric == "checks" }?.value == 0.9)
        let p95 = samples.filter { $0.metric == "http_req_duration" && $0.tags.contains { $0 == ("stat", "p(95)") } }
        #expect(p95.count == 2)
        #expect(
            p95.first { $0.tags.contains { $0 == ("corrected", "false") } }?.value == 47.519
        )
        #expect(samples.first { $0.metric == "vus" }?.value == 7)
        #expect(samples.first { $0.metric == "dropped_iterations" }?.value == 3)
    }

    @Test func pointTimesAreRFC3339InUTC() {
        #expect(JSONStreamSink.rfc3339(1_796_557_392.4262676) == "2026-12-06T11:43:12.426Z")
    }
}

extension Serial {
    @Suite struct StreamLiveTests {
        /// `--stream json=FILE` against a live server: the buckets and points add up to the report, bucket by bucket.
        @Test func theJSONStreamAddsUpToTheReportBucketByBucket() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let router = Router()
            router.get("/s3cr3t/a") { _, _ in Response(status: .ok) }
            router.get("/s3cr3t/b") { _, _ in Response(status: .notFound) }
            try await withTestServer(router) { port in
                // A secret in the target's path: the stream says `***`, as the report does.
                let file = try CLITests.write(
                    """
                    { "name": "streamed", "target": { "baseURL": "http://127.0.0.1:\(port)/${TOKEN}" },
                      "transport": { "mode": "real" },
                      "requests": [ { "name": "a", "path": "/a", "weight": 3 }, { "name": "b", "path": "/b" } ],
                      "load": { "executor": "constant-arrival-rate", "rate": 200, "duration": "3s", "preAllocatedVUs": 20 },
                      "thresholds": { "http_req_duration": ["p(95)<5000"] } }
                    """,
                    to: dir
                )
                let run = try await CLITests.preflight(
                    ["run", file, "--stream", "json=live.jsonl", "--var", "TOKEN=s3cr3t", "--secret", "TOKEN"],
                    in: dir
                )
                #expect(run.status == 0, "\(run.stderr)")
                let report = try #require(try CLITests.reports(in: dir).first)
                let text = try String(contentsOf: dir.appendingPathComponent("live.jsonl"), encoding: .utf8)
                #expect(!text.contains("s3cr3t") && text.contains("***"))
                let lines = try text.split(separator: "\n").map { line in
                    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                }
                let types = lines.map { $0["type"] as? String ?? "" }
                #expect(types.first == "Run" && types.last == "End")
                let buckets = lines.filter { $0["type"] as? String == "Bucket" }.compactMap {
                    $0["data"] as? [String: Any]
                }
                #expect(buckets.count == report.timeseries.count)
                #expect(buckets.map { $0["requests"] as? Int } == report.timeseries.map(\.requests))
                #expect(buckets.map { $0["p95"] as? Double } == report.timeseries.map(\.p95))
                let points = lines.filter { $0["type"] as? String == "Point" && $0["metric"] as? String == "http_reqs" }
                let counted = points.compactMap { ($0["data"] as? [String: Any])?["value"] as? Double }.reduce(0, +)
                let total = report.requests.reduce(0) { $0 + $1.count }
                #expect(Int(counted) == total && total > 400)
                let tags = points.compactMap { ($0["data"] as? [String: Any])?["tags"] as? [String: String] }
                #expect(tags.allSatisfy { $0["run_id"] == report.run.id && $0["scenario"] == "streamed" })
                #expect(Set(tags.compactMap { $0["status"] }) == ["200", "404"])
                let end = try #require(lines.last?["data"] as? [String: Any])
                #expect(end["verdict"] as? String == "pass" && end["runID"] as? String == report.run.id)
            }
        }

        /// A capacity search streams each step as a milestone as it starts, its buckets after it on the search's clock.
        @Test func aCapacitySearchStreamsEachStepAndItsBuckets() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = try CLITests.write(Serial.CapacitySearchCLITests.mockSearch, to: dir)
            let run = try await CLITests.preflight(
                ["run", file, "--allow-mock", "--quiet", "--stream", "json=live.jsonl"],
                in: dir
            )
            #expect(run.status == 0, "\(run.stderr)")
            let report = try #require(try CLITests.reports(in: dir).first)
            let steps = try #require(report.capacity?.steps)
            let lines = try String(contentsOf: dir.appendingPathComponent("live.jsonl"), encoding: .utf8)
                .split(separator: "\n").map { line in
                    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                }
            let started = try #require(lines.first?["data"] as? [String: Any])
            #expect(started["kind"] as? String == "capacity-search" && started["mode"] as? String == "mock")
            let startTime = try #require(started["startTime"] as? Double)
            let milestones = lines.filter { $0["type"] as? String == "Milestone" }.compactMap {
                $0["data"] as? [String: Any]
            }
            #expect(milestones.count == steps.count && steps.count == 3)
            for (m, step) in zip(milestones, steps) {
                #expect(m["name"] as? String == "capacity-step")
                #expect((m["detail"] as? String)?.hasPrefix("\(step.purpose) at \(Int(step.rate)) per") == true, "\(m)")
            }
            // Each step's buckets come after its milestone, placed on the search's clock (not from 0 again).
            var step = -1
            var after: [Double] = []
            for line in lines {
                let data = line["data"] as? [String: Any] ?? [:]
                if line["type"] as? String == "Milestone" {
                    step += 1
                    after.append(data["t"] as? Double ?? .nan)
                } else if line["type"] as? String == "Bucket", let time = data["time"] as? Double {
                    #expect(step >= 0 && time - startTime >= after[step] - 0.2, "bucket at \(time - startTime)")
                }
            }
            #expect(after == after.sorted() && (after.last ?? 0) >= 2, "\(after)")
        }
    }
}
