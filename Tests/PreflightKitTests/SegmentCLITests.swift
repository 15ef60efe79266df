import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// Three `preflight run --segment i/3` processes against one target, then `preflight merge` (#14): together
    /// they send what one process sends, no `unique` value twice, and the merged report counts it all.
    @Suite struct SegmentCLITests {
        static func scenario(port: Int) -> String {
            let values = (0..<40).map { "\"v\($0)\"" }.joined(separator: ",")
            return """
                { "name": "segmented", "target": { "baseURL": "http://127.0.0.1:\(port)" },
                  "transport": { "mode": "auto", "probe": { "timeout": "10s" } },
                  "data": { "item": { "values": [\(values)], "order": "unique" } },
                  "requests": [ { "name": "item", "path": "/item/{{item}}", "checks": [ { "status": 200 } ] } ],
                  "load": { "executor": "per-vu-iterations", "vus": 6, "iterations": 5 },
                  "thresholds": { "http_req_failed": ["rate<0.01"], "http_reqs": ["count>=30"] } }
                """
        }

        @Test func threeSegmentsMergeIntoTheWholeRun() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let seen = NIOLockedValueBox<[String]>([])
            let router = Router()
            router.get("item/{id}") { _, context in
                seen.withLockedValue { $0.append(context.parameters.get("id") ?? "") }
                return "ok"
            }
            try await withTestServer(router) { port in
                let file = try CLITests.write(Self.scenario(port: port), to: dir)
                // One process, the whole run.
                let whole = try await CLITests.preflight(["run", file, "--out", "whole", "--quiet"], in: dir)
                #expect(whole.status == 0, "\(whole.stderr)")
                let wholeValues = seen.withLockedValue { v in
                    defer { v.removeAll() }
                    return v
                }
                // The three segments one after another (what they send does not depend on when they run; three
                // debug processes at once and the server on a busy 2-core machine only test the machine).
                var runs: [Finished] = []
                for i in 0..<3 {
                    runs.append(
                        try await CLITests.preflight(
                            ["run", file, "--segment", "\(i)/3", "--out", "shards", "--quiet"],
                            in: dir
                        )
                    )
                }
                for run in runs { #expect(run.status == 99, "each shard alone sends 10 < 30: \(run.stderr)") }
                let segmentValues = seen.withLockedValue { $0 }
                // Each process probes once with the same value (which its run then leaves out): 30 + 1 alone,
                // 30 + 3 in segments, and no other value twice.
                #expect(wholeValues.count == 31)
                #expect(segmentValues.count == 33)
                let repeated = Dictionary(grouping: segmentValues, by: { $0 }).filter { $0.value.count > 1 }
                #expect(repeated.count == 1 && repeated.values.first?.count == 3, "\(repeated)")
                #expect(Set(segmentValues) == Set(wholeValues))

                let shardFolders = try FileManager.default.contentsOfDirectory(
                    atPath: dir.appendingPathComponent("shards").path
                ).filter { $0 != "index.html" }.sorted()
                #expect(shardFolders.count == 3)
                let merge = try await CLITests.preflight(
                    ["merge"] + shardFolders.map { "shards/\($0)" } + ["--out", "merged"],
                    in: dir
                )
                #expect(merge.status == 0, "\(merge.stdout)\(merge.stderr)")
                let mergedFolder = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("merged").path)
                        .first { $0 != "index.html" }
                )
                let merged = try ReportReader.decode(
                    Data(contentsOf: dir.appendingPathComponent("merged/\(mergedFolder)/report.json"))
                )
                #expect(merged.run.segment == "0,1,2/3")
                #expect(merged.requests[0].count == 30)
                #expect(merged.requests[0].statusCodes == ["200": 30])
                #expect(merged.requests[0].checks.passed == 30)
                // The timing phases merge as the latency does: their histograms added, every request in them.
                let phases = try #require(merged.phaseHistograms?[merged.requests[0].name])
                #expect(Set(phases.keys) == Set(Phase.allCases.map(\.metric.rawValue)))
                #expect(phases.values.allSatisfy { $0.count == 30 })
                #expect(merged.requests[0].phases?["http_req_waiting"] != nil)
                #expect(merged.verdict == .pass, "\(merged.verdictReason)")
                for name in ["report.html", "junit.xml", "summary.md"] {
                    #expect(
                        FileManager.default.fileExists(
                            atPath: dir.appendingPathComponent("merged/\(mergedFolder)/\(name)").path
                        )
                    )
                }
                // A shard missing: refused, naming it; with --allow-partial, merged and marked.
                let two = try await CLITests.preflight(
                    ["merge"] + shardFolders.prefix(2).map { "shards/\($0)" } + ["--out", "partial"],
                    in: dir
                )
                #expect(two.status == 2)
                #expect(two.stderr.contains("missing"))
                let partial = try await CLITests.preflight(
                    ["merge"] + shardFolders.prefix(2).map { "shards/\($0)" } + [
                        "--out", "partial", "--allow-partial",
                    ],
                    in: dir
                )
                #expect(partial.status == 3, "\(partial.stderr)")
            }
        }
    }
}
