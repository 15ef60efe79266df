import CSnappy
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct RemoteWriteUnitTests {
    @Test func snappyRoundTripsThroughTheSystemLibrary() throws {
        let text = Array(String(repeating: "preflight_http_reqs_total ", count: 50).utf8)
        let packed = try RemoteWriteSink.snappy(text)
        #expect(packed.count < text.count / 4)
        #expect(packed.first == 0x94 && packed[1] == 0x0A)  // the length, 1300, as a varint
        var back = [CChar](repeating: 0, count: text.count)
        var length = back.count  // in: the room; out: the length
        let status = packed.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { p in
            snappy_uncompress(p.baseAddress, p.count, &back, &length)
        }
        #expect(status == SNAPPY_OK && back.map { UInt8(bitPattern: $0) } == text)
        #expect(try RemoteWriteSink.snappy([]) == [0])
    }

    @Test func seriesAreNamedAsK6sWithRunningCountersAndSecondsForTrends() async throws {
        let sink = try RemoteWriteSink(url: "http://127.0.0.1:9/api/v1/write")
        await sink.handle(
            .started(
                LiveRun(
                    scenario: "s",
                    runID: "r",
                    segment: "0/2",
                    target: "t",
                    mode: "real",
                    kind: "run",
                    startTime: 0,
                    plannedSeconds: 1,
                    bucketSeconds: 1,
                    thresholds: []
                )
            )
        )
        let first = await sink.series(LiveBucketTests.bucket())
        let second = await sink.series(LiveBucketTests.bucket())
        func value(_ series: [Prometheus_TimeSeries], _ name: String, _ labels: [String: String] = [:]) -> Double? {
            series.first { s in
                s.labels.contains { $0.name == "__name__" && $0.value == name }
                    && labels.allSatisfy { l in s.labels.contains { $0.name == l.key && $0.value == l.value } }
            }?.samples.first?.value
        }
        #expect(value(first, "preflight_http_reqs_total", ["status": "200"]) == 90)
        #expect(value(second, "preflight_http_reqs_total", ["status": "200"]) == 180)
        #expect(value(first, "preflight_http_req_duration_p95", ["corrected": "true"]) == 0.095039)
        #expect(value(first, "preflight_http_req_failed_rate") == 0.1)
        #expect(value(first, "preflight_vus") == 7)
        for s in first {
            #expect(s.labels.map(\.name) == s.labels.map(\.name).sorted())
            #expect(s.labels.contains { $0.name == "segment" && $0.value == "0/2" })
            #expect(s.samples.first?.timestamp == 1_800_000_005_000)
        }
        // A milestone is one sample at its moment, its value the seconds since the run started.
        let step = await sink.series(
            LiveMilestone(name: "capacity-step", t: 12.5, time: 1_800_000_012.5, detail: "hold at 400 per 1s")
        )
        #expect(
            step.labels.map { "\($0.name)=\($0.value)" } == [
                "__name__=preflight_milestone", "milestone=capacity-step", "run_id=r", "scenario=s", "segment=0/2",
                "step=hold at 400 per 1s",
            ]
        )
        #expect(step.samples.map(\.value) == [12.5] && step.samples.map(\.timestamp) == [1_800_000_012_500])
    }
}

extension Serial {
    @Suite struct RemoteWriteLiveTests {
        static var prometheus: String? {
            ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }

        @Test func ciRunsThePrometheusTests() {
            // Without this, CI without Prometheus would skip the tests below and stay green.
            guard ProcessInfo.processInfo.environment["CI"] == "true" else { return }
            #expect(Self.prometheus != nil, "CI must install prometheus")
        }

        /// Starts Debian's Prometheus with the remote-write receiver on a free loopback port, in a folder of its own.
        static func withPrometheus(_ body: (Int) async throws -> Void) async throws {
            try await withStoppablePrometheus { port, _ in try await body(port) }
        }

        /// The same, with a way to stop Prometheus before `body` ends (a Prometheus that goes away mid-run).
        static func withStoppablePrometheus(
            _ body: (Int, _ stop: @Sendable () -> Void) async throws -> Void
        ) async throws {
            let prometheus = try #require(Self.prometheus)
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try freePort()
            try "global: {}\n".write(to: dir.appendingPathComponent("p.yml"), atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: prometheus)
            process.arguments = [
                "--config.file=\(dir.path)/p.yml", "--storage.tsdb.path=\(dir.path)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("prometheus.log").path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: dir.appendingPathComponent("prometheus.log"))
            try process.run()
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            // Ready when /-/ready answers 200 (at most 30 s: its first start creates the database).
            var ready = false
            for _ in 0..<300 where !ready {
                ready = (try? await query(port, "/-/ready")) != nil
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            let log = (try? String(contentsOf: dir.appendingPathComponent("prometheus.log"), encoding: .utf8)) ?? ""
            try #require(ready, "Prometheus did not start: \(log)")
            let stoppable = Mutex(Optional(process))
            try await body(port) {
                stoppable.withLock { p in
                    p?.terminate()
                    p?.waitUntilExit()
                }
            }
        }

        /// GETs `path` from Prometheus; nil unless it answers 200.
        static func query(_ port: Int, _ path: String) async throws -> Data? {
            let client = try TransportFactory(target: TargetURL.parse("http://127.0.0.1:\(port)").get()).oneShot(
                connectTimeout: 1
            )
            let answer = await client.send(method: "GET", path: path, timeout: 5, wantsBody: true)
            return answer.status == 200 ? Data(answer.body ?? []) : nil
        }

        /// The raw samples of `selector` over the last 10 minutes, by series, as [time: value].
        static func samples(_ port: Int, _ selector: String) async throws -> [[Double: Double]] {
            let q = try #require("\(selector)[10m]".addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            let data = try #require(try await query(port, "/api/v1/query?query=\(q)"))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let result = try #require((json["data"] as? [String: Any])?["result"] as? [[String: Any]])
            return result.map { series in
                var out: [Double: Double] = [:]
                for pair in series["values"] as? [[Any]] ?? [] {
                    if let t = pair[0] as? Double, let v = Double(pair[1] as? String ?? "") { out[t] = v }
                }
                return out
            }
        }

        static func scenario(_ port: Int) -> String {
            """
            { "name": "watched", "target": { "baseURL": "http://127.0.0.1:\(port)" },
              "transport": { "mode": "real" },
              "requests": [ { "name": "a", "path": "/a" } ],
              "load": { "executor": "constant-arrival-rate", "rate": 150, "duration": "4s", "preAllocatedVUs": 20 },
              "thresholds": { "http_req_duration": ["p(95)<5000"] } }
            """
        }

        @Test(.enabled(if: RemoteWriteLiveTests.prometheus != nil))
        func aRunReachesARealPrometheusAndAddsUpToItsReport() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let router = Router()
            router.get("/a") { _, _ in
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...8)))
                return Response(status: .ok)
            }
            try await Self.withPrometheus { prometheus in
                try await withTestServer(router) { port in
                    let file = try CLITests.write(Self.scenario(port), to: dir)
                    let rw = "prometheus-rw=http://127.0.0.1:\(prometheus)/api/v1/write"
                    let run = try await CLITests.preflight(["run", file, "--stream", rw], in: dir)
                    #expect(run.status == 0, "\(run.stderr)")
                    let report = try #require(try CLITests.reports(in: dir).first)
                    #expect(report.warnings.allSatisfy { !$0.contains("prometheus-rw") }, "\(report.warnings)")
                    let id = report.run.id
                    // The counter's last value in each series (one per status) adds up to the report's count.
                    let counts = try await Self.samples(prometheus, "preflight_http_reqs_total{run_id=\"\(id)\"}")
                    let total = counts.map { $0.max { $0.key < $1.key }?.value ?? 0 }.reduce(0, +)
                    let reported = report.requests.reduce(0) { $0 + $1.count }
                    #expect(Int(total) == reported && reported > 400)
                    // The p95 series, bucket by bucket, is the report's (ms there, seconds in Prometheus).
                    let p95 = try await Self.samples(
                        prometheus,
                        "preflight_http_req_duration_p95{run_id=\"\(id)\",corrected=\"true\",name=\"a\"}"
                    )
                    let series = try #require(p95.first).sorted { $0.key < $1.key }.map { ($0.value * 1e6).rounded() }
                    let expected = report.timeseries.compactMap(\.p95).map { ($0 * 1000).rounded() }
                    #expect(series == expected)
                }
            }
        }

        /// Debian's Prometheus, stopped once the run's first samples are in it: the run goes on, its report is whole,
        /// and the warning says how many samples were dropped and why.
        @Test(.enabled(if: RemoteWriteLiveTests.prometheus != nil))
        func aPrometheusStoppedMidRunCostsSamplesNotTheRun() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let router = Router()
            router.get("/a") { _, _ in Response(status: .ok) }
            try await Self.withStoppablePrometheus { prometheus, stop in
                try await withTestServer(router) { port in
                    let file = try CLITests.write(Self.scenario(port), to: dir)
                    let rw = "prometheus-rw=http://127.0.0.1:\(prometheus)/api/v1/write"
                    let run = try await CLITests.preflight(["run", file, "--stream", rw], in: dir) { _ in
                        let q = "/api/v1/query?query=count(preflight_http_reqs_total)"
                        for _ in 0..<300 {
                            if let data = try? await Self.query(prometheus, q),
                                String(decoding: data, as: UTF8.self)
                                    .contains("\"value\"")
                            {
                                break
                            }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        stop()
                    }
                    #expect(run.status == 0, "\(run.stderr)")
                    let report = try #require(try CLITests.reports(in: dir).first)
                    #expect(report.requests.reduce(0) { $0 + $1.count } > 400, "the run went on")
                    #expect(report.timeseries.count >= 4)
                    let warning = try #require(report.warnings.first { $0.contains("prometheus-rw to") })
                    let dropped = Int(warning.firstMatch(of: /(\d+) samples dropped/)?.1 ?? "") ?? 0
                    let sent = Int(warning.firstMatch(of: /(\d+) samples were sent/)?.1 ?? "") ?? 0
                    #expect(dropped > 0 && sent > 0, "\(warning)")
                }
            }
        }

        /// A receiver that answers 503 after two writes (overloaded, not gone): the same, and the warning names it.
        @Test(.enabled(if: RemoteWriteLiveTests.prometheus != nil))
        func aReceiverAnswering503CostsSamplesNotTheRun() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let writes = Mutex(0)
            let receiver = Router()
            receiver.post("/api/v1/write") { _, _ in
                let n = writes.withLock {
                    $0 += 1
                    return $0
                }
                return Response(status: n <= 2 ? .noContent : .serviceUnavailable)
            }
            try await withTestServer(receiver) { rwPort in
                let router = Router()
                router.get("/a") { _, _ in Response(status: .ok) }
                try await withTestServer(router) { port in
                    let file = try CLITests.write(Self.scenario(port), to: dir)
                    let rw = "prometheus-rw=http://127.0.0.1:\(rwPort)/api/v1/write"
                    let run = try await CLITests.preflight(["run", file, "--stream", rw], in: dir)
                    #expect(run.status == 0, "\(run.stderr)")
                    let report = try #require(try CLITests.reports(in: dir).first)
                    #expect(report.requests.reduce(0) { $0 + $1.count } > 400)
                    let warning = try #require(report.warnings.first { $0.contains("prometheus-rw to") })
                    #expect(warning.contains("samples dropped") && warning.contains("HTTP 503"), "\(warning)")
                }
            }
        }
    }
}
