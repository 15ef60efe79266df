import Foundation
import HTTPTypes
import Hummingbird
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct DashboardUnitTests {
    @Test func anAddressIsHostAndPortAndABareFlagGetsK6sDefault() {
        #expect(DashboardSink.address("127.0.0.1:5665")! == ("127.0.0.1", 5665))
        #expect(DashboardSink.address("[::1]:0")! == ("::1", 0))
        #expect(DashboardSink.address("5665") == nil && DashboardSink.address("host:x") == nil)
        #expect(DashboardSink.isLoopback("127.0.0.1") && DashboardSink.isLoopback("::1"))
        #expect(!DashboardSink.isLoopback("0.0.0.0"))
    }

    @Test func eachEventIsOneServerSentEventOfOneJSONLine() {
        let frame = DashboardSink.frame("thresholds", [LiveThreshold(name: "a: p(95)<1", ok: true, observed: 0.5)])
        #expect(frame == "event: thresholds\ndata: [{\"name\":\"a: p(95)<1\",\"observed\":0.5,\"ok\":true}]\n\n")
    }
}

extension Serial {
    @Suite struct DashboardBrowserTests {
        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/cdp_snapshots.py")

        /// Chromium on the dashboard at `port` (started first, so every moment falls inside the run), `body` run
        /// while it watches; the value of `expression` at each of `moments`, and where each screenshot went.
        static func watching(
            port: Int,
            in dir: URL,
            expression: String,
            moments: [String],
            _ body: () async throws -> Void
        ) async throws -> (values: [String], shots: [String]) {
            let prefix = dir.appendingPathComponent("shot").path
            async let watcher = runProcess(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["python3", script.path, BrowserTests.chromium.path, "http://127.0.0.1:\(port)/", prefix, expression]
                    + moments
            )
            for _ in 0..<600 where !FileManager.default.fileExists(atPath: prefix + "ready") {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await body()
            let watched = try await watcher
            #expect(watched.status == 0, "\(watched.stderr)")
            let values = watched.stdout.split(separator: "\n").dropFirst().compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["value"] as? String
            }
            try #require(values.count == moments.count, "\(watched.stdout)")
            return (values, moments.indices.map { prefix + "\($0).png" })
        }

        /// Ends a `--dashboard-linger` once the browser has taken its last screenshot (`shot`), with the signal.
        static func endLinger(after shot: String) -> @Sendable (pid_t) async throws -> Void {
            { pid in
                for _ in 0..<900 where !FileManager.default.fileExists(atPath: shot) {
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .milliseconds(500))
                kill(pid, SIGINT)
            }
        }

        /// A real browser on the live page: Chromium (driven over the DevTools protocol, the page never reloaded)
        /// sees the charts fill during the run and the verdict at the end.
        @Test func chromiumWatchesTheChartsFillAndTheVerdictArrive() async throws {
            guard FileManager.default.isExecutableFile(atPath: BrowserTests.chromium.path) else {
                Issue.record("Chromium is not installed at \(BrowserTests.chromium.path): apt-get install -y chromium")
                return
            }
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try freePort()
            let expression =
                "document.getElementById('clock').textContent + ' | ' + document.getElementById('verdict').className"
            let moments = ["3", "6", "until:document.getElementById('verdict').className != ''"]
            let (values, shots) = try await Self.watching(port: port, in: dir, expression: expression, moments: moments)
            {
                let router = Router()
                router.get("/a") { _, _ in Response(status: .ok) }
                try await withTestServer(router) { target in
                    let file = try CLITests.write(
                        """
                        { "name": "watched", "target": { "baseURL": "http://127.0.0.1:\(target)" },
                          "transport": { "mode": "real" },
                          "requests": [ { "name": "a", "path": "/a" } ],
                          "load": { "executor": "constant-arrival-rate", "rate": 100, "duration": "10s", "preAllocatedVUs": 10 },
                          "thresholds": { "http_req_failed": ["rate<0.01"] } }
                        """,
                        to: dir
                    )
                    // The linger ends when the browser has seen the verdict (a signal ends it early).
                    let run = try await CLITests.preflight(
                        ["run", file, "--dashboard", "127.0.0.1:\(port)", "--dashboard-linger", "60s"],
                        in: dir,
                        whileRunning: Self.endLinger(after: dir.appendingPathComponent("shot2.png").path)
                    )
                    #expect(run.status == 0, "\(run.stderr)")
                    #expect(run.stderr.contains("dashboard at http://127.0.0.1:\(port)/"))
                }
            }
            let requests = values.map { v in Int(v.firstMatch(of: /· (\d+) requests/)?.1 ?? "") ?? 0 }
            // The charts filled: more requests at each moment, and the screenshots differ.
            #expect(requests[0] < requests[1] && requests[1] < requests[2], "\(values)")
            let images = try shots.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
            #expect(images[0] != images[1] && images[1] != images[2])
            #expect(values[1].hasSuffix("| ") && values[2].hasSuffix("| pass"), "\(values)")
            let report = try #require(try CLITests.reports(in: dir).first)
            #expect(requests[2] == report.requests.reduce(0) { $0 + $1.count })
        }

        /// A drill on the dashboard: its timeline grows as the milestones happen (the fault before the recovery),
        /// each milestone is marked on the charts, and the verdict arrives at the end.
        @Test func chromiumWatchesADrillsTimelineGrow() async throws {
            guard FileManager.default.isExecutableFile(atPath: BrowserTests.chromium.path) else {
                Issue.record("Chromium is not installed at \(BrowserTests.chromium.path): apt-get install -y chromium")
                return
            }
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try freePort()
            let expression =
                "document.getElementById('timeline').textContent + ' | ' "
                + "+ document.querySelectorAll('#latency line[stroke-dasharray]').length + ' | ' "
                + "+ document.getElementById('verdict').className"
            let moments = [
                "until:document.getElementById('timeline').textContent.includes('fault-start')",
                "until:document.getElementById('verdict').className != ''",
            ]
            let (values, _) = try await Self.watching(port: port, in: dir, expression: expression, moments: moments) {
                // Down for 3 s: the first moment (the fault seen) comes well before the recovery.
                let server = CrashableServer(
                    crashFile: dir.appendingPathComponent("crash"),
                    downFor: .seconds(3),
                    buffered: false
                )
                try await withTestServer(server.router) { target in
                    let file = try CLITests.write(
                        Serial.DrillRunTests.drill(
                            port: target,
                            dir: dir,
                            fault: "touch '\(dir.path)/crash'",
                            background: true,
                            canary: false
                        ),
                        to: dir
                    )
                    let drill = try await CLITests.preflight(
                        ["drill", file, "--dashboard", "127.0.0.1:\(port)", "--dashboard-linger", "60s"],
                        in: dir,
                        whileRunning: Self.endLinger(after: dir.appendingPathComponent("shot1.png").path)
                    )
                    #expect(drill.status == 0, "\(drill.stderr)")
                }
            }
            let parts = values.map { $0.components(separatedBy: " | ") }
            #expect(parts[0][0].contains("fault-start") && !parts[0][0].contains("recovered"), "\(values[0])")
            #expect(parts[1][0].contains("recovered") && parts[1][0].contains("end"), "\(values[1])")
            #expect((Int(parts[1][1]) ?? 0) >= 5, "every milestone is a line on the chart: \(values[1])")
            #expect(parts[0].last == "" && parts[1].last == "pass", "\(values)")
        }
    }
}
