import Foundation
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Several `serve` instances on one PostgreSQL behind a load balancer (SPEC §12): real processes, real nginx.
extension Serial {
    @Suite struct SharedStoreTests {
        static var postgresURL: String? {
            ProcessInfo.processInfo.environment["PREFLIGHT_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
        }

        static var nginx: String? {
            ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }

        @Test func ciRunsTheSharedStoreTest() {
            // Without this, CI without PostgreSQL or nginx would skip the test below and stay green.
            guard ProcessInfo.processInfo.environment["CI"] == "true" else { return }
            #expect(Self.postgresURL != nil, "CI must set PREFLIGHT_TEST_POSTGRES_URL (scripts/ci/postgres.sh)")
            #expect(Self.nginx != nil, "CI must install nginx")
        }

        /// The request count per route of one instance, from its own `/metrics`.
        static func served(_ port: Int, route: String) async throws -> Double {
            let client = try TransportFactory(target: TargetURL.parse("http://127.0.0.1:\(port)").get()).oneShot(
                connectTimeout: 1
            )
            let answer = await client.send(method: "GET", path: "/metrics", timeout: 5, wantsBody: true)
            let text = answer.body.map { String(decoding: $0, as: UTF8.self) } ?? ""
            return text.split(separator: "\n")
                .filter { $0.hasPrefix("http_requests_total{") && $0.contains("route=\"\(route)\"") }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
                .reduce(0, +)
        }

        /// A shell test that the process in `pidFile` is gone or a zombie (a killed child nobody reaped yet still
        /// answers `kill -0`).
        static func isDead(_ pidFile: URL) -> String {
            "sleep 0.2; s=$(cut -d' ' -f3 /proc/$(cat '\(pidFile.path)')/stat 2>/dev/null); [ -z \"$s\" ] || [ \"$s\" = Z ]"
        }

        static func waitUntilReady(_ port: Int) async throws {
            let client = try TransportFactory(target: TargetURL.parse("http://127.0.0.1:\(port)").get()).oneShot(
                connectTimeout: 1
            )
            for _ in 0..<600 {
                if await client.send(method: "GET", path: "/readyz", timeout: 1).status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("port \(port) never answered /readyz")
        }

        /// Two `serve` processes (A with the demo bars, then B) on `databases`, nginx round-robin in front; `body`
        /// gets the ports of A, B and the balancer and the folder holding `start-a.sh`, `a.pid` and the logs.
        static func withTwoInstances(
            databases: (a: String, b: String),
            _ body: (_ a: Int, _ b: Int, _ lb: Int, _ dir: URL) async throws -> Void
        ) async throws {
            let dir = try DrillRunTests.tempDir()
            let binary = CLITests.binary.path
            let (a, b, lb) = (try freePort(), try freePort(), try freePort())
            for (name, port, db, demo) in [("a", a, databases.a, "--demo-data"), ("b", b, databases.b, "")] {
                try """
                #!/bin/sh
                '\(binary)' serve --port \(port) --db '\(db)' --symbols AAPL \(demo) </dev/null >>'\(dir.path)/\(name).log' 2>&1 &
                echo $! > '\(dir.path)/\(name).pid'
                """.write(to: dir.appendingPathComponent("start-\(name).sh"), atomically: true, encoding: .utf8)
                chmod(dir.appendingPathComponent("start-\(name).sh").path, 0o755)
            }
            try """
            worker_processes 1;
            pid \(dir.path)/nginx.pid;
            error_log \(dir.path)/nginx-error.log;
            events { worker_connections 512; }
            http {
                access_log off;
                client_body_temp_path \(dir.path)/nginx-body;
                proxy_temp_path \(dir.path)/nginx-proxy;
                fastcgi_temp_path \(dir.path)/nginx-fastcgi;
                uwsgi_temp_path \(dir.path)/nginx-uwsgi;
                scgi_temp_path \(dir.path)/nginx-scgi;
                upstream api {
                    server 127.0.0.1:\(a) max_fails=1 fail_timeout=2s;
                    server 127.0.0.1:\(b) max_fails=1 fail_timeout=2s;
                    keepalive 16;
                }
                server {
                    listen 127.0.0.1:\(lb);
                    location / {
                        proxy_pass http://api;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_connect_timeout 1s;
                        # nginx never retries a POST on the other instance (non_idempotent is off): a canary write
                        # whose instance died is a 502, not an acknowledgement.
                        proxy_next_upstream error timeout http_502 http_503;
                    }
                }
            }
            """.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
            defer {
                _ = try? runShell(
                    "kill -9 $(cat '\(dir.path)/a.pid') $(cat '\(dir.path)/b.pid') 2>/dev/null; "
                        + "kill $(cat '\(dir.path)/nginx.pid') 2>/dev/null"
                )
            }
            _ = try runShell("'\(dir.path)/start-a.sh'")
            try await Self.waitUntilReady(a)  // A migrates and writes the demo bars; B then starts on them
            _ = try runShell("'\(dir.path)/start-b.sh'")
            try await Self.waitUntilReady(b)
            #expect(try runShell("'\(try #require(Self.nginx))' -c '\(dir.path)/nginx.conf' -p '\(dir.path)'") == 0)
            try await Self.waitUntilReady(lb)
            try await body(a, b, lb, dir)
        }

        /// The drill through the balancer: kill -9 instance A while the canary writes, then restart it.
        static func killOneInstance(lb: Int, dir: URL) async throws -> DrillRunTests.Outcome {
            let isDead = DrillRunTests.jsonString(Self.isDead(dir.appendingPathComponent("a.pid")))
            let json = """
                { "kind": "drill", "name": "t", "target": { "baseURL": "http://127.0.0.1:\(lb)" },
                  "steadyState": { "probe": { "path": "/readyz" }, "interval": "100ms", "mustHoldFor": "1s", "timeout": "60s" },
                  "canary": { "write": { "path": "/api/v1/admin/drill/canary", "body": { "seq": "{{seq}}", "writtenAt": "{{now}}" } },
                              "read": { "path": "/api/v1/admin/drill/canary?from={{firstSeq}}" }, "interval": "20ms" },
                  "fault": { "after": "2s", "action": { "run": ["sh", "-c", "kill -9 $(cat '\(dir.path)/a.pid')"] },
                             "verify": { "run": ["sh", "-c", \(isDead)] } },
                  "recovery": { "action": { "run": ["sh", "-c", "'\(dir.path)/start-a.sh'"] },
                                "healthy": { "consecutiveSuccesses": 5 }, "timeout": "60s" },
                  "objectives": { "rto": "<30s", "rpo": "==0", "lostWrites": "==0" } }
                """
            return try await DrillRunTests.run(json, in: dir)
        }

        @Test(.enabled(if: postgresURL != nil && nginx != nil))
        func twoInstancesBehindNginxPassCachedSymbolAndAKillLosesNoAcknowledgedWrite() async throws {
            let schema = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
            let base = try #require(Self.postgresURL)
            let db = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
            defer { _ = try? runShell("psql '\(base)' -qc 'DROP SCHEMA IF EXISTS \(schema) CASCADE' >/dev/null 2>&1") }
            try await Self.withTwoInstances(databases: (db, db)) { a, b, lb, dir in
                // cached_symbol, as shipped, through the balancer: real, every check and threshold passing.
                let scenario = DeployTests.repository.appendingPathComponent("scenarios/cached_symbol.json").path
                let run = try await CLITests.preflight(
                    ["run", scenario, "--out", dir.appendingPathComponent("reports").path, "--seed", "1"],
                    in: dir,
                    environment: ["PREFLIGHT_TARGET": "http://127.0.0.1:\(lb)", "DURATION": "5s"]
                )
                let report = try #require(try CLITests.reports(in: dir).first)
                #expect(report.transport.mode == .real)
                #expect(report.requests.first?.count ?? 0 >= 900)
                // Every threshold passes, but for one case: the scenario's latency bounds on a machine so busy that
                // the harness itself reported saturation (a 2-core machine building beside the test); checks,
                // errors and the server's cache-hit ratio must pass whatever the load.
                let failed = report.thresholds.filter { !$0.ok }.map(\.metric)
                let saturated = report.run.harness?.saturated == true
                #expect(
                    run.status == 0 || (saturated && failed.allSatisfy { $0.hasPrefix("http_req_duration") }),
                    "\(run.stdout)\n\(run.stderr)"
                )
                let route = "/api/v1/features/quant/{symbol}"
                let (servedA, servedB) = (
                    try await Self.served(a, route: route), try await Self.served(b, route: route)
                )
                #expect(servedA > 300 && servedB > 300, "round robin: A served \(servedA), B \(servedB)")

                let outcome = try await Self.killOneInstance(lb: lb, dir: dir)
                let d = try #require(outcome.report.drill)
                #expect(outcome.status == .pass, "\(outcome.stdout)")
                #expect(d.lostWrites == 0)
                #expect((d.acknowledgedWrites ?? 0) > 40)
                #expect(d.actions.map(\.kind) == [.fault, .verify, .recovery])
                #expect(d.actions.allSatisfy { $0.exitStatus == 0 })
                try await Self.waitUntilReady(a)  // A restarts on the shared store
            }
        }

        /// The control: the same drill with each instance on a SQLite file of its own loses acknowledged writes
        /// (those A took are gone from what B reads), so the test above can fail and passes on the shared store.
        @Test(.enabled(if: nginx != nil))
        func theSameKillWithAStorePerInstanceLosesAcknowledgedWrites() async throws {
            let files = try DrillRunTests.tempDir()
            let dbs = (files.appendingPathComponent("a.sqlite").path, files.appendingPathComponent("b.sqlite").path)
            try await Self.withTwoInstances(databases: dbs) { _, _, lb, dir in
                let outcome = try await Self.killOneInstance(lb: lb, dir: dir)
                let d = try #require(outcome.report.drill)
                #expect(outcome.status == .thresholdsFailed)
                #expect((d.lostWrites ?? 0) > 0, "\(outcome.stdout)")
            }
        }
    }
}
