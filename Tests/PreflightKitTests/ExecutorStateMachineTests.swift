import Foundation
import Histogram
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Runs an `ExecutorStateMachine` on a synthetic clock: sends complete after `latency(iteration, sentAt)`, timers
/// and ticks fire exactly when asked. No I/O and no waiting, so counts are exact.
struct SimulatedShard {
    struct Send: Equatable {
        var vu: Int
        var iteration: Int
        var intended: RunTime
        var sentAt: RunTime
    }

    private enum Event {
        case response(vu: Int)
        case timer(vu: Int, generation: Int)
        case tick(generation: Int)
        case stop
        case abandon
    }

    var machine: ExecutorStateMachine
    let latency: (Int, RunTime) -> RunTime
    private(set) var now: RunTime = 0
    private(set) var sends: [Send] = []
    private(set) var finishedAt: RunTime?
    private(set) var dataExhausted = 0
    private(set) var peakInFlight = 0
    private(set) var peakBacklog = 0
    private var queue: [(at: RunTime, seq: Int, event: Event)] = []
    private var seq = 0
    private var timerGeneration: [Int: Int] = [:]
    private var tickGeneration = 0

    init(
        _ executor: LoadSettings.Executor,
        shard: Int = 0,
        shards: Int = 1,
        iterationLimit: Int? = nil,
        latency: @escaping (Int, RunTime) -> RunTime
    ) {
        machine = ExecutorStateMachine(
            executor: executor,
            shard: shard,
            shards: shards,
            iterationLimit: iterationLimit,
            seed: 1
        )
        self.latency = latency
    }

    /// Delivers `stop` at `t` (SIGINT, an aborting threshold).
    mutating func stop(at t: RunTime) { enqueue(t, .stop) }

    /// Delivers `abandon` at `t` (`gracefulStop` ran out).
    mutating func abandon(at t: RunTime) { enqueue(t, .abandon) }

    /// Starts at 0 and runs until nothing is left to happen, or `limit`.
    mutating func run(until limit: RunTime = 3_600_000_000_000) {
        var actions: [LoadAction] = []
        machine.start(now: 0, into: &actions)
        apply(&actions)
        while !queue.isEmpty {
            let next = queue.indices.min { (queue[$0].at, queue[$0].seq) < (queue[$1].at, queue[$1].seq) }!
            let (at, _, event) = queue.remove(at: next)
            guard at <= limit else { break }
            now = at
            switch event {
            case .response(let vu): machine.responded(vu: vu, now: now, into: &actions)
            case .timer(let vu, let generation):
                guard timerGeneration[vu] == generation else { continue }
                machine.timerFired(vu: vu, now: now, into: &actions)
            case .tick(let generation):
                guard tickGeneration == generation else { continue }
                machine.tick(now: now, into: &actions)
            case .stop: machine.stop(now: now, into: &actions)
            case .abandon: machine.abandon(into: &actions)
            }
            apply(&actions)
        }
    }

    private mutating func enqueue(_ at: RunTime, _ event: Event) {
        queue.append((at, seq, event))
        seq += 1
    }

    private mutating func apply(_ actions: inout [LoadAction]) {
        for action in actions {
            switch action {
            case .send(let vu, let iteration, let intended):
                sends.append(Send(vu: vu, iteration: iteration, intended: intended, sentAt: now))
                enqueue(now + latency(iteration, now), .response(vu: vu))
            case .schedule(let vu, let at):
                timerGeneration[vu, default: 0] += 1
                enqueue(at, .timer(vu: vu, generation: timerGeneration[vu]!))
            case .cancelTimer(let vu):
                timerGeneration[vu, default: 0] += 1
            case .scheduleTick(let at):
                tickGeneration += 1
                enqueue(at, .tick(generation: tickGeneration))
            case .dataExhausted:
                dataExhausted += 1
            case .finish:
                #expect(finishedAt == nil, "finish twice")
                finishedAt = now
            }
        }
        actions.removeAll()
        peakInFlight = max(peakInFlight, machine.inFlight)
        peakBacklog = max(peakBacklog, machine.backlogCount)
    }
}

private let ms: RunTime = 1_000_000

private func open(preAllocated: Int, max: Int, backlog: Int) -> OpenModelVUs {
    OpenModelVUs(preAllocated: preAllocated, max: max, maxBacklog: backlog)
}

@Suite struct ExecutorStateMachineTests {
    @Test func constantArrivalRateSendsEachArrivalAtItsTime() {
        var sim = SimulatedShard(
            .constantArrivalRate(.init(rate: 200, duration: 3, vus: open(preAllocated: 2, max: 10, backlog: 100)))
        ) { _, _ in 3 * ms }
        sim.run()
        #expect(sim.sends.count == 600)
        #expect(sim.sends.map(\.iteration) == Array(0..<600))
        #expect(sim.sends.allSatisfy { $0.intended == $0.sentAt && $0.intended == RunTime($0.iteration) * 5 * ms })
        #expect(sim.machine.droppedIterations == 0)
        #expect(sim.machine.vus.count == 2, "a 3 ms request every 5 ms needs no VU beyond the pre-allocated")
        // Issuing runs to the schedule's end (3 s); the last response came at 2.995 s + 3 ms.
        #expect(sim.finishedAt == 3_000 * ms)
    }

    /// One VU, a backlog of 2, requests that take 240 ms and arrivals every 100 ms: worked out by hand, arrivals 0,
    /// 1, 2, 3 and 5 run, 4, 6, 7 and 9 find the backlog full, and 8 is still waiting when issuing ends at 1 s.
    @Test func backlogQueuesThenDropsAndLatencyCountsFromTheIntendedStart() {
        var sim = SimulatedShard(
            .constantArrivalRate(.init(rate: 10, duration: 1, vus: open(preAllocated: 1, max: 1, backlog: 2)))
        ) { _, _ in 240 * ms }
        sim.run()
        #expect(sim.sends.map(\.iteration) == [0, 1, 2, 3, 5])
        #expect(sim.sends.map(\.intended) == [0, 100 * ms, 200 * ms, 300 * ms, 500 * ms])
        #expect(sim.sends.map(\.sentAt) == [0, 240 * ms, 480 * ms, 720 * ms, 960 * ms])
        #expect(sim.machine.droppedIterations == 5)
        #expect(sim.peakBacklog == 2)
        #expect(sim.finishedAt == 1_200 * ms)
    }

    @Test func newVUsAreTakenUpToMaxVUsBeforeTheBacklog() {
        var sim = SimulatedShard(
            .constantArrivalRate(.init(rate: 100, duration: 1, vus: open(preAllocated: 1, max: 5, backlog: 0)))
        ) { _, _ in 45 * ms }
        sim.run()
        // A 45 ms request every 10 ms keeps 5 VUs busy (4.5 on average): none is ever dropped.
        #expect(sim.sends.count == 100)
        #expect(sim.machine.vus.count == 5)
        #expect(sim.peakInFlight == 5)
        #expect(sim.machine.droppedIterations == 0)
    }

    @Test func shardsSplitArrivalsWithoutGapsOrOverlap() {
        var all: [Int] = []
        for shard in 0..<3 {
            var sim = SimulatedShard(
                .constantArrivalRate(.init(rate: 100, duration: 1, vus: open(preAllocated: 1, max: 4, backlog: 10))),
                shard: shard,
                shards: 3
            ) { _, _ in 1 * ms }
            sim.run()
            #expect(sim.sends.allSatisfy { $0.iteration % 3 == shard })
            all += sim.sends.map(\.iteration)
        }
        #expect(all.sorted() == Array(0..<100))
    }

    @Test func rampingArrivalRateFollowsTheIntegratedRate() {
        let stages = [LoadSettings.Stage(target: 100, duration: 2), .init(target: 100, duration: 1)]
        var sim = SimulatedShard(
            .rampingArrivalRate(.init(stages: stages, vus: open(preAllocated: 5, max: 5, backlog: 10)))
        ) { _, _ in 1 * ms }
        sim.run()
        // 0 → 100/s over 2 s is 100 arrivals (25 of them in the first second), then 100 in the last second.
        #expect(sim.sends.count == 200)
        #expect(sim.sends.filter { $0.intended < 1_000 * ms }.count == 25)
        #expect(sim.sends.filter { $0.intended >= 2_000 * ms }.count == 100)
        #expect(zip(sim.sends, sim.sends.dropFirst()).allSatisfy { $0.intended <= $1.intended })
    }

    @Test func constantVUsLoopUntilTheDurationEnds() {
        var sim = SimulatedShard(.constantVUs(.init(vus: 3, duration: 1))) { _, _ in 100 * ms }
        sim.run()
        // Each VU sends at 0, 100, …, 900 ms: 10 each; iteration numbers are one shared sequence.
        #expect(sim.sends.count == 30)
        #expect(Set(sim.sends.map(\.iteration)) == Set(0..<30))
        #expect(Dictionary(grouping: sim.sends, by: \.vu).mapValues(\.count) == [0: 10, 1: 10, 2: 10])
        #expect(sim.finishedAt == 1_000 * ms)
    }

    @Test func thinkTimeSpacesIterationsAndEndsWithIssuing() {
        let think = ThinkTime(range: 0.05...0.05)
        var sim = SimulatedShard(.constantVUs(.init(vus: 2, duration: 1, thinkTime: think))) { _, _ in 100 * ms }
        sim.run()
        // 100 ms + 50 ms per iteration: sends at 0, 150, …, 900 ms; the pause after the last would end past 1 s.
        #expect(sim.sends.filter { $0.vu == 0 }.map(\.sentAt) == (0..<7).map { RunTime($0) * 150 * ms })
        #expect(sim.sends.count == 14)
        #expect(sim.finishedAt == 1_000 * ms)
    }

    @Test func longThinkTimeIsCutAtTheEndOfIssuing() {
        let think = ThinkTime(range: 0.3...0.3)
        var sim = SimulatedShard(.constantVUs(.init(vus: 1, duration: 1, thinkTime: think))) { _, _ in 10 * ms }
        sim.run()
        // Sends at 0, 310, 620, 930 ms; the VU is then asleep until 1.24 s, past the end: it finishes at 940 ms.
        #expect(sim.sends.map(\.sentAt) == [0, 310 * ms, 620 * ms, 930 * ms])
        #expect(sim.finishedAt == 940 * ms)
    }

    @Test func perVUIterationsRunsEachVUsOwnIterations() {
        var sim = SimulatedShard(.perVUIterations(.init(vus: 2, iterations: 3))) { _, _ in 10 * ms }
        sim.run()
        #expect(sim.sends.filter { $0.vu == 0 }.map(\.iteration) == [0, 1, 2])
        #expect(sim.sends.filter { $0.vu == 1 }.map(\.iteration) == [3, 4, 5])
        // It finishes when the work is done, not at maxDuration (600 s).
        #expect(sim.finishedAt == 30 * ms)
    }

    @Test func sharedIterationsSendsEachIterationOnceAndAFastVUTakesMore() {
        // Iterations 1 and 5 are slow (40 ms, the rest 10 ms): whichever VU takes them falls behind, and the
        // other takes the numbers it would have: 10 iterations in all, each once, shared unevenly.
        var sim = SimulatedShard(.sharedIterations(.init(vus: 2, iterations: 10))) { iteration, _ in
            iteration == 1 || iteration == 5 ? 40 * ms : 10 * ms
        }
        sim.run()
        #expect(sim.sends.map(\.iteration).sorted() == Array(0..<10))
        let byVU = Dictionary(grouping: sim.sends, by: \.vu).mapValues(\.count)
        #expect(byVU.count == 2 && byVU.values.max()! > byVU.values.min()!, "\(byVU)")
        #expect(sim.finishedAt! < 600 * 1_000 * ms)
    }

    @Test func sharedIterationsSplitAcrossShardsSendEachNumberOnce() {
        var all: [Int] = []
        for shard in 0..<3 {
            var sim = SimulatedShard(.sharedIterations(.init(vus: 4, iterations: 10)), shard: shard, shards: 3) {
                _,
                _ in
                5 * ms
            }
            sim.run()
            all += sim.sends.map(\.iteration)
        }
        #expect(all.sorted() == Array(0..<10))
    }

    @Test func sharedIterationsRefusesMoreVUsThanIterations() throws {
        let doc =
            #"{ "name": "s", "target": { "baseURL": "http://127.0.0.1:1" }, "requests": [ { "name": "a", "path": "/a" } ], "load": { "executor": "shared-iterations", "vus": 5, "iterations": 3 } }"#
        #expect(throws: ScenarioError.self) {
            _ = try ScenarioLoader(variables: [:], environment: [:])
                .load(data: Data(doc.utf8), file: "x.json", baseDirectory: URL(fileURLWithPath: "/tmp"))
        }
    }

    @Test func perVUIterationsStopsAtMaxDuration() {
        var sim = SimulatedShard(.perVUIterations(.init(vus: 1, iterations: 100, maxDuration: 1))) { _, _ in 300 * ms }
        sim.run()
        #expect(sim.sends.count == 4)
        #expect(sim.finishedAt == 1_200 * ms)
    }

    @Test func rampingVUsNeverRunAVUAboveTheTarget() throws {
        let stages = [
            LoadSettings.Stage(target: 4, duration: 4), .init(target: 4, duration: 1), .init(target: 0, duration: 4),
        ]
        let schedule = VUSchedule(startVUs: 0, stages: stages)
        var sim = SimulatedShard(.rampingVUs(.init(startVUs: 0, stages: stages))) { _, _ in 100 * ms }
        sim.run()
        #expect(sim.sends.allSatisfy { $0.vu < schedule.target(at: $0.sentAt.seconds) })
        #expect(sim.peakInFlight == 4)
        // VU n starts as soon as the target reaches n + 1 (at n + 1 s), not at the next poll.
        for n in 0..<4 {
            let first = sim.sends.first { $0.vu == n }?.sentAt ?? -1
            #expect(abs(first - RunTime(n + 1) * 1_000 * ms) <= 1 * ms, "VU \(n)")
        }
        // On the way down VU n runs while the target is at least n + 1, that is until 8 - n s.
        for n in 0..<4 {
            let last = sim.sends.last { $0.vu == n }?.sentAt ?? 0
            let end = RunTime(8 - n) * 1_000 * ms
            #expect(last <= end + 1 * ms && last > end - 100 * ms, "VU \(n)")
        }
        #expect(try #require(sim.finishedAt) <= 8_200 * ms)
    }

    @Test func rampingVUsComeBackWhenTheTargetRisesAgain() throws {
        let stages = [
            LoadSettings.Stage(target: 2, duration: 1), .init(target: 0, duration: 1), .init(target: 4, duration: 2),
        ]
        var sim = SimulatedShard(.rampingVUs(.init(startVUs: 2, stages: stages))) { _, _ in 50 * ms }
        sim.run()
        // VU 1 runs while the target is at least 2: until 1 s, and again from 3 s.
        let vu1 = sim.sends.filter { $0.vu == 1 }.map(\.sentAt)
        #expect(vu1.filter { $0 <= 1_000 * ms }.count == 21)
        #expect(!vu1.contains { $0 > 1_000 * ms && $0 < 3_000 * ms })
        let back = try #require(vu1.first { $0 >= 3_000 * ms })
        #expect(back - 3_000 * ms <= 1 * ms)
    }

    @Test func stopEndsIssuingAndDropsTheBacklog() {
        var sim = SimulatedShard(
            .constantArrivalRate(.init(rate: 100, duration: 10, vus: open(preAllocated: 1, max: 1, backlog: 100)))
        ) { _, _ in 25 * ms }
        sim.stop(at: 500 * ms + 1)
        sim.run()
        // Arrivals 0…50 were due by 500 ms; one VU served 21 of them (every 25 ms), 30 waited and are dropped.
        #expect(sim.sends.count == 21)
        #expect(sim.machine.droppedIterations == 30)
        #expect(sim.finishedAt == 525 * ms)
    }

    @Test func abandonCountsIterationsStillInFlight() {
        var sim = SimulatedShard(.constantVUs(.init(vus: 2, duration: 1))) { iteration, _ in
            iteration < 2 ? 100 * ms : 60_000 * ms  // the second requests never answer in time
        }
        sim.abandon(at: 1_000 * ms + 500 * ms)
        sim.run()
        #expect(sim.sends.count == 4)
        #expect(sim.machine.abandonedIterations == 2)
        #expect(sim.machine.inFlight == 0)
        #expect(sim.finishedAt == 1_500 * ms)
    }

    @Test func aUniqueFeedRunningOutStopsAtItsLastValue() {
        var sim = SimulatedShard(.constantVUs(.init(vus: 2, duration: 10)), iterationLimit: 5) { _, _ in 10 * ms }
        sim.run()
        #expect(sim.sends.map(\.iteration).sorted() == [0, 1, 2, 3, 4])
        #expect(sim.dataExhausted == 1)
        #expect(sim.finishedAt == 30 * ms)

        var open = SimulatedShard(
            .constantArrivalRate(.init(rate: 100, duration: 10, vus: open(preAllocated: 1, max: 2, backlog: 10))),
            iterationLimit: 7
        ) { _, _ in 1 * ms }
        open.run()
        #expect(open.sends.map(\.iteration) == Array(0..<7))
        #expect(open.dataExhausted == 1)
        #expect(open.machine.droppedIterations == 0)
    }

    @Test func lateTicksAreMeasuredAsDispatchLateness() {
        var machine = ExecutorStateMachine(
            executor: .constantArrivalRate(
                .init(rate: 100, duration: 1, vus: open(preAllocated: 50, max: 50, backlog: 0))
            ),
            shard: 0,
            shards: 1,
            iterationLimit: nil,
            seed: 1
        )
        var actions: [LoadAction] = []
        machine.start(now: 0, into: &actions)
        actions.removeAll()
        // The loop was busy: the tick for 10 ms comes at 50 ms. Arrivals 1…5 start now, 40 to 0 ms late.
        machine.tick(now: 50 * ms, into: &actions)
        #expect(actions.filter { if case .send = $0 { true } else { false } }.count == 5)
        #expect(actions.last == .scheduleTick(at: 60 * ms))
        // Arrival 0 on time, then 40, 30, 20, 10 and 0 ms late.
        #expect(machine.dispatchLateness.totalCount == 6)
        #expect(abs(Double(machine.dispatchLateness.max) - 40_000) <= 40)
    }

    @Test func theHarnessIsCalledSaturatedOnlyWhenItWasLateOrOutOfCPU() {
        var onTime = LatencyHistogram.latency()
        for _ in 0..<1_000 { onTime.record(200) }
        let fine = HarnessLoad(cpuSeconds: 5, cores: 2, duration: 10, lateness: onTime)
        #expect(!fine.saturated)
        #expect(abs(fine.cpuUtilization - 0.25) < 1e-9)
        #expect(abs((fine.dispatchLatenessP99Ms ?? 0) - 0.2) < 0.01)

        var late = onTime
        for _ in 0..<20 { late.record(50_000) }
        let lagging = HarnessLoad(cpuSeconds: 5, cores: 2, duration: 10, lateness: late)
        #expect(lagging.reasons.count == 1)
        #expect(lagging.reasons.first?.hasPrefix("dispatch lateness p99 50.0 ms") == true)

        let busy = HarnessLoad(cpuSeconds: 19, cores: 2, duration: 10, lateness: LatencyHistogram.latency())
        #expect(busy.reasons == ["CPU 95% of 2 cores"])
        #expect(busy.dispatchLatenessP99Ms == nil, "a closed model schedules nothing")
    }

    @Test func anEmptyShardFinishesAtOnce() {
        var sim = SimulatedShard(.constantVUs(.init(vus: 1, duration: 1)), shard: 1, shards: 2) { _, _ in 1 * ms }
        sim.run()
        #expect(sim.sends.isEmpty)
        #expect(sim.finishedAt == 0)
    }
}

@Suite struct VUScheduleTests {
    @Test func firstTimeReachingFindsTheCrossingOfARamp() throws {
        let s = VUSchedule(startVUs: 0, stages: [.init(target: 10, duration: 10), .init(target: 0, duration: 10)])
        #expect(abs(try #require(s.firstTime(reaching: 3, after: 0)) - 3) < 1e-6)
        #expect(s.firstTime(reaching: 3, after: 5) == 5, "already above")
        #expect(s.firstTime(reaching: 11, after: 0) == nil)
        #expect(s.firstTime(reaching: 1, after: 19.5) == nil, "falling to 0 and staying there")
        for n in 1...10 {
            let t = try #require(s.firstTime(reaching: n, after: 0))
            #expect(s.target(at: t) >= n)
            #expect(s.target(at: t - 1e-6) < n)
        }
    }

    @Test func aTargetHeldAfterTheLastStageIsReachedAtItsEnd() {
        let s = VUSchedule(startVUs: 0, stages: [.init(target: 0, duration: 2), .init(target: 5, duration: 0.000_001)])
        #expect(s.target(at: 3) == 5)
        #expect((s.firstTime(reaching: 5, after: 2.5) ?? -1) == 2.5)
    }
}
