import Foundation
import Histogram
import Hummingbird
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// Executors against an in-process server on a loopback port. Assertions are on counts, with tolerances; none on
    /// tight wall-clock times.
    @Suite struct ExecutorTests {
        @Test func constantArrivalRateSendsRateTimesDuration() async throws {
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter)) { port in
                let s = try scenario(
                    """
                    { "name": "car", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "ok", "path": "/ok", "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "constant-arrival-rate", "rate": 200, "duration": "3s",
                                "preAllocatedVUs": 10, "maxVUs": 200, "maxBacklog": 2000 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let count = result.metrics.totalRequests
                #expect(abs(count - 600) <= 18, "sent \(count), expected 600 ± 3 %")
                #expect(counter.total == count)
                #expect(result.metrics.requests[0].byStatus[200] != nil)
                #expect(result.metrics.droppedIterations == 0)
                // Every arrival's dispatch was timed; on a loaded 2-core machine it may be late, but not seconds.
                #expect(result.harness.scheduledStarts == count)
                #expect((result.harness.dispatchLatenessP99Ms ?? .infinity) < 1_000)
            }
        }

        @Test func constantVUsKeepsExactlyNInFlight() async throws {
            let counter = RequestCounter()
            try await withTestServer(countingRouter("/slow", counter: counter, hold: .milliseconds(20))) { port in
                let s = try scenario(
                    """
                    { "name": "cvus", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "slow", "path": "/slow" } ],
                      "load": { "executor": "constant-vus", "vus": 7, "duration": "2s" } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(counter.maxInFlight == 7)
                #expect(result.metrics.vusMax == 7)
                #expect(result.metrics.totalRequests > 7 * 10)
            }
        }

        @Test func perVUIterationsSendsExactlyVUsTimesIterations() async throws {
            let counter = RequestCounter()
            try await withTestServer(countingRouter("/item/{id}", counter: counter)) { port in
                let s = try scenario(
                    """
                    { "name": "pvi", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "data": { "id": { "values": [1, 2, 3], "order": "random" } },
                      "requests": [ { "name": "item", "path": "/item/{{id}}", "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 5, "iterations": 13 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.metrics.totalRequests == 65)
                #expect(counter.total == 65)
                #expect(result.metrics.requests[0].checksPassed == [65])
            }
        }

        @Test func sharedIterationsSendsExactlyTheIterationsWhateverTheVUsAndLoops() async throws {
            let counter = RequestCounter()
            try await withTestServer(countingRouter("/item/{id}", counter: counter)) { port in
                let s = try scenario(
                    """
                    { "name": "si", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "item", "path": "/item/{{iteration}}", "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "shared-iterations", "vus": 5, "iterations": 37 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s, eventLoops: 2)
                #expect(result.metrics.totalRequests == 37)
                #expect(counter.total == 37)
                #expect(result.metrics.iterations == 37)
            }
        }

        @Test func rampingArrivalRateFollowsItsStages() async throws {
            try await withTestServer(countingRouter()) { port in
                // 0 → 100/s over 2 s (100 arrivals), then 100/s for 2 s (200 arrivals).
                let s = try scenario(
                    """
                    { "name": "rar", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "ok", "path": "/ok" } ],
                      "load": { "executor": "ramping-arrival-rate", "startRate": 0, "preAllocatedVUs": 5, "maxVUs": 20,
                                "stages": [ { "target": 100, "duration": "2s" }, { "target": 100, "duration": "2s" } ] } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(abs(result.metrics.totalRequests - 300) <= 9)
                // Per-second buckets: the ramp puts ~25 in the first second, ~75 in the second, ~100 after.
                let perSecond = result.timeseries.map(\.requests)
                #expect(perSecond.count >= 4)
                if perSecond.count >= 4 {
                    #expect(abs(perSecond[0] - 25) <= 8, "\(perSecond)")
                    #expect(abs(perSecond[1] - 75) <= 12, "\(perSecond)")
                    #expect(abs(perSecond[2] + perSecond[3] - 200) <= 12, "\(perSecond)")
                }
            }
        }

        @Test func rampingVUsFollowsItsTarget() async throws {
            let counter = RequestCounter()
            try await withTestServer(countingRouter("/slow", counter: counter, hold: .milliseconds(20))) { port in
                let s = try scenario(
                    """
                    { "name": "rvus", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "slow", "path": "/slow" } ],
                      "load": { "executor": "ramping-vus", "startVUs": 1,
                                "stages": [ { "target": 4, "duration": "1s" }, { "target": 4, "duration": "1s" } ] } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(counter.maxInFlight == 4)
                #expect(result.metrics.vusMax == 4)
            }
        }

        /// The server holds every request arriving in one 1 s window until the window ends (a stall). Only the
        /// latency measured from the intended start sees it.
        @Test func coordinatedOmissionIsCorrected() async throws {
            for (backlog, expectDrops) in [(nil as Int?, false), (10, true)] {
                let stallStart = ContinuousClock.now + .milliseconds(1500)
                let stallEnd = stallStart + .seconds(1)
                let handler: @Sendable (Request, BasicRequestContext) async throws -> String = { _, _ in
                    let now = ContinuousClock.now
                    if now >= stallStart && now < stallEnd { try await Task.sleep(until: stallEnd) }
                    return "ok"
                }
                let router = Router()
                router.get("/ok", use: handler)
                try await withTestServer(router) { port in
                    let backlogKey = backlog.map { ", \"maxBacklog\": \($0)" } ?? ""
                    let s = try scenario(
                        """
                        { "name": "co", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                          "requests": [ { "name": "ok", "path": "/ok" } ],
                          "load": { "executor": "constant-arrival-rate", "rate": 200, "duration": "5s",
                                    "preAllocatedVUs": 2, "maxVUs": 2\(backlogKey) } }
                        """,
                        port: port
                    )
                    let result = try await runScenario(s, eventLoops: 1)
                    let latency = result.metrics.requests[0].latency()
                    let correctedP99 = Double(latency.corrected.valueAtPercentile(99)) / 1e6
                    let uncorrectedP99 = Double(latency.uncorrected.valueAtPercentile(99)) / 1e6
                    if expectDrops {
                        #expect(result.metrics.droppedIterations > 0)
                    } else {
                        #expect(correctedP99 >= 0.8, "corrected p99 \(correctedP99) s")
                        #expect(uncorrectedP99 < 0.2, "uncorrected p99 \(uncorrectedP99) s")
                        // The default backlog holds one second of arrivals, exactly the stall: on a loaded machine
                        // the stall's edges can cost an arrival or two, never the second's worth (200).
                        #expect(result.metrics.droppedIterations <= 3)
                    }
                }
            }
        }

        @Test func abortOnFailStopsTheRunEarly() async throws {
            try await withTestServer(countingRouter(hold: .milliseconds(30))) { port in
                let s = try scenario(
                    """
                    { "name": "abort", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "ok", "path": "/ok" } ],
                      "load": { "executor": "constant-vus", "vus": 2, "duration": "30s", "gracefulStop": "1s" },
                      "thresholds": { "http_req_duration": [ { "threshold": "p(95)<1", "abortOnFail": true,
                                                               "delayAbortEval": "1s" } ] } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.aborted)
                #expect(result.durationSeconds < 15, "aborted after \(result.durationSeconds) s")
                let plan = RequestPlan(scenario: s, seed: 1)
                let report = Report.build(scenario: s, plan: plan, result: result, transport: .forcedReal, seed: 1)
                #expect(report.verdict == .fail)
                #expect(report.verdictReason.hasSuffix("; the run was aborted"))
                #expect(report.exitStatus == .thresholdsFailed)
            }
        }

        @Test func requestsStillInFlightAfterGracefulStopAreCountedAsAbandoned() async throws {
            let counter = RequestCounter()
            try await withTestServer(countingRouter(counter: counter, hold: .seconds(3))) { port in
                let s = try scenario(
                    """
                    { "name": "abandon", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "http": { "timeout": "30s" },
                      "requests": [ { "name": "ok", "path": "/ok" } ],
                      "load": { "executor": "constant-vus", "vus": 2, "duration": "500ms", "gracefulStop": "500ms" } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(result.metrics.abandonedIterations == 2)
                // Recorded as failures of the target, with the latency they had reached (about 1 s).
                #expect(result.metrics.totalRequests == 2)
                #expect(result.metrics.requests[0].errors[ErrorClass.aborted.rawValue] == 2)
                #expect(result.metrics.requests[0].failedCount() == 2)
                let reached = result.metrics.requests[0].latency().corrected.max
                #expect(reached >= 900_000 && reached < 10_000_000, "\(reached) µs")
                #expect(
                    result.warnings.contains { $0.hasPrefix("2 iterations were still in flight when gracefulStop") }
                )
                let report = Report.build(
                    scenario: s,
                    plan: RequestPlan(scenario: s, seed: 1),
                    result: result,
                    transport: .forcedReal,
                    seed: 1
                )
                #expect(report.run.abandonedIterations == 2)
            }
        }

        @Test func largeBodiesAreDrainedCountedAndCheckedTruncated() async throws {
            let big = String(repeating: "x", count: 200_000) + "END"
            let router = Router()
            router.get("/big") { _, _ in big }
            try await withTestServer(router) { port in
                let s = try scenario(
                    """
                    { "name": "big", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "http": { "maxBodyBytes": 1024 },
                      "requests": [ { "name": "big", "path": "/big", "checks": [ { "bodyContains": "END" } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 5 },
                      "thresholds": {} }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let r = result.metrics.requests[0]
                #expect(r.count == 10)
                #expect(r.truncatedBodies == 10)
                #expect(r.checksFailed == [10], "the check only saw the first 1 KiB")
                #expect(r.bytesIn >= 10 * 200_000, "every byte was read and counted")
                #expect(result.warnings.contains { $0.contains("maxBodyBytes") })
            }
        }

        @Test func aServerClosingEachConnectionIsReconnectedTo() async throws {
            let counter = RequestCounter()
            let router = Router()
            router.get("/close") { _, _ -> Response in
                counter.enter()
                counter.leave()
                return Response(
                    status: .ok,
                    headers: [.connection: "close"],
                    body: .init(byteBuffer: ByteBuffer(string: "bye"))
                )
            }
            try await withTestServer(router) { port in
                let s = try scenario(
                    """
                    { "name": "close", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "requests": [ { "name": "close", "path": "/close", "checks": [ { "status": 200 } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 1, "iterations": 20 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                #expect(counter.total == 20)
                #expect(result.metrics.requests[0].checksPassed == [20])
                #expect(result.metrics.requests[0].errors.reduce(0, +) == 0)
            }
        }
    }
}
