import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// `preflight demo --quick` as a user runs it: the built binary, from the repository's folder.
    @Suite struct DemoTests {
        static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()

        /// Processes whose command line mentions `text` (the demo's work folder is in every child's arguments or
        /// in its pid files).
        static func processes(mentioning text: String, pidFiles: [URL]) -> [Int32] {
            var pids: [Int32] = pidFiles.compactMap {
                (try? String(contentsOf: $0, encoding: .utf8)).flatMap {
                    Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            .filter { kill($0, 0) == 0 && !DemoChildren.isZombie($0) }
            let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            for entry in all {
                guard let pid = Int32(entry), pid != getpid(),
                    let cmd = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
                else { continue }
                let line = String(decoding: cmd.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
                if line.contains(text) && !DemoChildren.isZombie(pid) { pids.append(pid) }
            }
            return Array(Set(pids))
        }

        @Test func theQuickDemoRunsEverythingRealAndLeavesNoProcessBehind() async throws {
            let out = try CLITests.tempDir()
            let keep = out.appendingPathComponent("work")
            let result = try await CLITests.preflight(
                ["demo", "--quick", "--keep", keep.path, "--out", out.appendingPathComponent("reports").path],
                in: Self.repository
            )
            #expect(result.status == 0, "\(result.stderr.suffix(3000))")
            let reports = try CLITests.reports(in: out)
            #expect(
                Set(reports.map(\.scenario.name)) == [
                    "backfill-journey", "cached-symbol", "uncached-symbols", "scheduler-health", "rto-rpo-recovery",
                    "cached-symbol-http2",
                ]
            )
            // Both protocols in one demo: the hot symbol over HTTP/1.1, then over h2c from a second instance, its
            // server view scraped over HTTP/2 too with no scrape failing.
            let h1 = try #require(reports.first { $0.scenario.name == "cached-symbol" })
            let h2 = try #require(reports.first { $0.scenario.name == "cached-symbol-http2" })
            #expect(h1.requests.first?.protocol == "HTTP/1.1")
            #expect(h2.requests.first?.protocol == "HTTP/2")
            #expect(h2.server?.failedScrapes == 0 && (h2.server?.scrapes ?? 0) > 0)
            // The journey walked the admin API with the demo's token: every iteration whole, each run polled to its
            // end, and the token in no report or log line.
            let journey = try #require(reports.first { $0.scenario.name == "backfill-journey" })
            #expect(journey.flow?.stopped == 0)
            #expect(journey.flow?.steps == ["trigger", "run", "bars", "features"])
            #expect(journey.requests.first { $0.name == "bars" }?.count == 6)
            let token = try String(contentsOf: keep.appendingPathComponent("admin-token"), encoding: .utf8)
            #expect(token.count >= 16)
            let written = try FileManager.default.subpathsOfDirectory(atPath: out.path).filter {
                !$0.hasSuffix("admin-token") && !$0.hasSuffix(".sqlite") && !$0.contains(".sqlite-")
            }
            for file in written {
                guard let text = try? String(contentsOf: out.appendingPathComponent(file), encoding: .utf8) else {
                    continue
                }
                #expect(!text.contains(token), "the admin token is in \(file)")
            }
            #expect(!result.stdout.contains(token) && !result.stderr.contains(token))
            for r in reports {
                #expect(r.transport.mode == .real, "\(r.scenario.name)")
                #expect(r.verdict == .pass, "\(r.scenario.name): \(r.verdictReason)")
            }
            let drill = try #require(reports.first { $0.drill != nil }?.drill)
            #expect(drill.rtoSeconds != nil)
            #expect(drill.lostWrites == 0)
            #expect((drill.acknowledgedWrites ?? 0) > 0)
            let index = try String(
                contentsOf: out.appendingPathComponent("reports/index.html"),
                encoding: .utf8
            )
            for r in reports { #expect(index.contains(r.scenario.name)) }
            #expect(result.stdout.contains("rto-rpo-recovery"))
            let left = Self.processes(
                mentioning: keep.path,
                pidFiles: [keep.appendingPathComponent("api.pid"), keep.appendingPathComponent("provider.pid")]
            )
            #expect(left.isEmpty, "processes left behind: \(left)")
        }

        @Test func anInterruptedDemoExits130WithPartialReportsAndNoProcessBehind() async throws {
            let out = try CLITests.tempDir()
            let keep = out.appendingPathComponent("work")
            let reportsDir = out.appendingPathComponent("reports")
            let result = try await CLITests.preflight(
                ["demo", "--quick", "--keep", keep.path, "--out", reportsDir.path],
                in: Self.repository
            ) { pid in
                // Interrupt once the first scenario's report is written, while the next one runs.
                for _ in 0..<1800 {
                    let folders = (try? FileManager.default.contentsOfDirectory(atPath: reportsDir.path)) ?? []
                    if folders.contains(where: { $0.hasPrefix("cached-symbol-") }) { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .milliseconds(1000))
                kill(pid, SIGINT)
            }
            #expect(result.status == 130, "\(result.stderr.suffix(2000))")
            let reports = try CLITests.reports(in: out)
            // The demo stopped partway: the first report is there, the drill's is not.
            #expect(reports.contains { $0.scenario.name == "cached-symbol" })
            #expect(!reports.contains { $0.scenario.name == "rto-rpo-recovery" }, "\(reports.map(\.scenario.name))")
            #expect(result.stderr.contains("interrupted"))
            let left = Self.processes(
                mentioning: keep.path,
                pidFiles: [keep.appendingPathComponent("api.pid"), keep.appendingPathComponent("provider.pid")]
            )
            #expect(left.isEmpty, "processes left behind: \(left)")
        }
    }
}

/// The demo's backfill progress line (#26, item 7: it read `last run – bars` while the first run was going).
struct DemoProgressTests {
    @Test func whileARunIsGoingTheLineSaysSoInsteadOfALastRunWithoutBars() throws {
        let running = try JSONValue.parse(
            Data(
                #"""
                {"state": "running", "symbols": [{"lagTradingDays": 0}, {"lagTradingDays": 300}],
                 "lastHour": {"attempts": 42, "rateLimited": 3}}
                """#.utf8
            )
        )
        let during = try #require(DemoCommand.backfillProgress(running, total: 2))
        #expect(
            during.line
                == "    backfill: 1/2 symbols · run in progress · 42 provider requests, 3 rate-limited (last hour)"
        )
        #expect(!during.line.contains("–"))
        #expect(!during.finished)
        let idle = try JSONValue.parse(
            Data(
                #"""
                {"state": "idle", "symbols": [{"lagTradingDays": 0}, {"lagTradingDays": 1}],
                 "lastRun": {"barsWritten": 800, "rateLimitHits": 2}, "lastHour": {"attempts": 50, "rateLimited": 3}}
                """#.utf8
            )
        )
        let after = try #require(DemoCommand.backfillProgress(idle, total: 2))
        #expect(after.line == "    backfill: 2/2 symbols · last run 800 bars · 2 rate-limit waits")
        #expect(after.finished)
    }
}

/// The demo's children are awaited through pidfds (an event), not a 50 ms poll: a child and a process started by a
/// shell script (not our child) both end the wait when they exit; one that does not exit is left at the deadline.
struct DemoChildrenWaitTests {
    static func spawn(_ line: String) throws -> pid_t {
        try ChildProcess.spawn(
            executable: "/bin/sh",
            argv: ["sh", "-c", line],
            environment: [:],
            stdout: "/dev/null",
            stderr: "/dev/null"
        ).get()
    }

    @Test func theWaitEndsWhenChildrenAndOrphansExitAndAtTheDeadlineOtherwise() throws {
        let dir = try Serial.CLITests.tempDir()
        let child = try Self.spawn("exec sleep 0.3")
        // Not our child: sh starts it in the background and exits; its pid comes from a file, as the API's does.
        _ = try runShell("sleep 0.3 & echo $! > '\(dir.path)/orphan.pid'")
        let text = try String(contentsOfFile: dir.path + "/orphan.pid", encoding: .utf8)
        let orphan = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        DemoChildren.waitForExit([child, orphan], seconds: 60)
        #expect(kill(child, 0) != 0, "the child exited and was reaped")
        #expect(kill(orphan, 0) != 0 || DemoChildren.isZombie(orphan), "the orphan exited")
        let stubborn = try Self.spawn("exec sleep 30")
        defer {
            kill(stubborn, SIGKILL)
            _ = waitpid(stubborn, nil, 0)
        }
        DemoChildren.waitForExit([stubborn], seconds: 0.2)
        #expect(kill(stubborn, 0) == 0, "still running: the wait ended at its deadline")
    }
}
