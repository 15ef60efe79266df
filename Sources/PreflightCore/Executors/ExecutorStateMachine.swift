import Histogram

/// Nanoseconds since the start of the measured phase: the clock of `ExecutorStateMachine`.
package typealias RunTime = Int64

extension RunTime {
    /// `seconds` as a run time; the loader's limits keep every duration far inside `Int64`.
    package init(seconds: Double) { self = Int64((seconds * 1e9).rounded()) }

    package var seconds: Double { Double(self) / 1e9 }
}

/// What a shard's driver does after feeding an event to its executor's state machine.
package enum LoadAction: Equatable, Sendable {
    /// Sends `iteration` on VU slot `vu`; `intended` is when it was due (latency is measured from there).
    case send(vu: Int, iteration: Int, intended: RunTime)
    /// Feeds `timerFired(vu:)` at `at`: think time, or a ramping VU waiting for its turn.
    case schedule(vu: Int, at: RunTime)
    /// Cancels VU slot `vu`'s pending timer.
    case cancelTimer(vu: Int)
    /// Feeds `tick(now:)` at `at` (replacing any earlier tick): the next arrival, or the end of issuing.
    case scheduleTick(at: RunTime)
    /// A `unique` data feed ran out: the whole run stops.
    case dataExhausted
    /// Every VU of the shard is done; nothing more will happen.
    case finish
}

/// One shard's executor as a value: events in, actions out, no I/O and no clock.
///
/// Shard `k` of `n` takes arrivals `k, k+n, k+2n, …` (open models) and VUs `k, k+n, …` (closed models); VU slot
/// `s` of the shard is VU `k + s·n`. The driver (`LoadShard`) turns actions into sends and timers and feeds back
/// what happened; tests feed events with a synthetic clock and check the actions exactly.
///
/// Events: `start`, `tick` (a scheduled tick came due), `responded` (a VU's request was recorded), `timerFired`,
/// `stop` (no new iterations: SIGINT, abort, data exhausted), `abandon` (`gracefulStop` is over).
package struct ExecutorStateMachine {
    package enum VUState: Equatable {
        /// Open models: waiting for an arrival.
        case idle
        /// A request is in flight.
        case sending
        /// Think time, or waiting for a ramp; a timer is pending.
        case sleeping
        case finished
    }

    package struct VU {
        package let id: Int
        package var done = 0
        package var state: VUState
        /// When its pending timer was due, to measure how late it fired.
        package var wakeAt: RunTime = 0
    }

    private enum Phase {
        case notStarted
        /// Iterations are being issued.
        case issuing
        /// Issuing is over (its time ended, or `stop`); in-flight iterations finish.
        case draining
        case finished
    }

    private struct Job {
        var iteration: Int
        var intended: RunTime
    }

    package let executor: LoadSettings.Executor
    package let shard: Int
    package let shards: Int
    /// When issuing ends.
    package let issueEnd: RunTime
    /// The first iteration number a `unique` feed has no value for.
    package let iterationLimit: Int?

    package private(set) var vus: [VU] = []
    /// Requests in flight now.
    package private(set) var inFlight = 0
    package private(set) var droppedIterations = 0
    /// Arrivals that found every VU busy and waited in the backlog (open models): sent late, not dropped.
    package private(set) var backloggedIterations = 0
    /// Iterations in flight when `gracefulStop` ran out: neither recorded nor finished.
    package private(set) var abandonedIterations = 0
    /// How late scheduled starts (arrivals, and VU timers) were handled, in µs: the harness's own lag.
    package private(set) var dispatchLateness = LatencyHistogram.latency()
    private var phase = Phase.notStarted
    private var live = 0
    private var thinkRNG: SplitMix64
    private var sharedIterations = 0
    // Open models.
    private let arrivals: (schedule: ArrivalSchedule, vus: OpenModelVUs)?
    // Closed models.
    private let closed: (any ClosedModelExecutor)?
    private var nextArrival: Int
    private var idle: [Int] = []
    private var backlog: [Job] = []
    private var backlogHead = 0

    package init(executor: LoadSettings.Executor, shard: Int, shards: Int, iterationLimit: Int?, seed: UInt64) {
        self.executor = executor
        self.shard = shard
        self.shards = shards
        self.issueEnd = RunTime(seconds: executor.issuingSeconds)
        self.iterationLimit = iterationLimit
        self.arrivals = executor.open.map { ($0.schedule, $0.vus) }
        self.closed = executor.closed
        self.nextArrival = shard
        self.thinkRNG = SplitMix64(seed: seed ^ UInt64(shard) &* 0xA24B_AED4_963E_E407)
    }

    /// This shard's share of `total`: shard k gets the k-th of n near-equal parts.
    package func share(of total: Int) -> Int { ExecutionSegment.part(of: total, shard: shard, shards: shards) }

    /// The global id of VU slot `slot`.
    package func vuID(slot: Int) -> Int { shard + slot * shards }

    /// VUs whose connections should be open before the start.
    package var initialVUs: Int { share(of: executor.initialVUs) }

    package var isFinished: Bool { phase == .finished }

    /// Arrivals waiting for a free VU.
    package var backlogCount: Int { backlog.count - backlogHead }

    // MARK: Events

    package mutating func start(now: RunTime, into actions: inout [LoadAction]) {
        guard phase == .notStarted else { return }
        phase = .issuing
        if arrivals != nil {
            for _ in 0..<initialVUs { idle.append(addVU(state: .idle)) }
            live = idle.count + 1  // the dispatcher counts as one until issuing ends
            dispatchDue(now: now, into: &actions)
        } else {
            let count = share(of: executor.maxVUs)
            live = count + 1  // the start itself, so that an empty shard finishes too
            for _ in 0..<count { nextIteration(addVU(state: .sleeping), now: now, into: &actions) }
            if phase == .issuing { actions.append(.scheduleTick(at: issueEnd)) }
            finishOne(into: &actions)
        }
    }

    /// A tick scheduled with `scheduleTick` came due.
    package mutating func tick(now: RunTime, into actions: inout [LoadAction]) {
        if arrivals != nil {
            dispatchDue(now: now, into: &actions)
        } else if now >= issueEnd {
            endIssuing(into: &actions)
        }
    }

    /// VU slot `vu`'s request was recorded at `now`.
    package mutating func responded(vu v: Int, now: RunTime, into actions: inout [LoadAction]) {
        guard phase != .finished, vus[v].state == .sending else { return }
        inFlight -= 1
        vus[v].done += 1
        if arrivals != nil {
            if backlogHead < backlog.count {
                let job = backlog[backlogHead]
                backlogHead += 1
                if backlogHead > 1024, backlogHead * 2 > backlog.count {
                    backlog.removeFirst(backlogHead)
                    backlogHead = 0
                }
                send(v, iteration: job.iteration, intended: job.intended, into: &actions)
            } else if phase == .issuing {
                vus[v].state = .idle
                idle.append(v)
            } else {
                finish(v, into: &actions)
            }
        } else if let think = executor.thinkTime, think.range.upperBound > 0, phase == .issuing {
            let wake = now + RunTime(seconds: think.draw(using: &thinkRNG))
            if wake >= issueEnd {
                finish(v, into: &actions)
            } else {
                vus[v].state = .sleeping
                vus[v].wakeAt = wake
                actions.append(.schedule(vu: v, at: wake))
            }
        } else {
            nextIteration(v, now: now, into: &actions)
        }
    }

    /// VU slot `vu`'s timer (think time or ramp wait) fired.
    package mutating func timerFired(vu v: Int, now: RunTime, into actions: inout [LoadAction]) {
        guard phase != .finished, vus[v].state == .sleeping else { return }
        dispatchLateness.record(UInt64(max(0, now - vus[v].wakeAt) / 1_000))
        nextIteration(v, now: now, into: &actions)
    }

    /// No new iterations from now on; in-flight ones finish (SIGINT, an aborting threshold, data ran out).
    package mutating func stop(now: RunTime, into actions: inout [LoadAction]) {
        guard phase == .issuing || phase == .notStarted else { return }
        if phase == .notStarted {
            phase = .finished
            actions.append(.finish)
            return
        }
        endIssuing(into: &actions)
    }

    /// `gracefulStop` is over: iterations still in flight are abandoned and counted; the shard finishes.
    package mutating func abandon(into actions: inout [LoadAction]) {
        guard phase != .finished else { return }
        if phase == .issuing { endIssuing(into: &actions) }
        guard phase != .finished else { return }
        for v in vus.indices where vus[v].state != .finished {
            if vus[v].state == .sending {
                abandonedIterations += 1
                inFlight -= 1
            }
            if vus[v].state == .sleeping { actions.append(.cancelTimer(vu: v)) }
            vus[v].state = .finished
        }
        live = 0
        phase = .finished
        actions.append(.finish)
    }

    // MARK: Closed models

    private mutating func nextIteration(_ v: Int, now: RunTime, into actions: inout [LoadAction]) {
        guard phase == .issuing, now < issueEnd else { return finish(v, into: &actions) }
        let iteration: Int
        switch closed?.step(vu: vus[v].id, done: vus[v].done, at: now.seconds) ?? .stop {
        case .stop:
            return finish(v, into: &actions)
        case .wait(let until):
            // A microsecond past the crossing, so that rounding to nanoseconds cannot wake the VU just before it.
            let wake = max(RunTime(seconds: until) + 1_000, now + 1)
            guard wake < issueEnd else { return finish(v, into: &actions) }
            vus[v].state = .sleeping
            vus[v].wakeAt = wake
            actions.append(.schedule(vu: v, at: wake))
            return
        case .iteration(let i):
            iteration = i
        case .nextShared:
            iteration = sharedIterations * shards + shard
            sharedIterations += 1
        case .nextSharedBelow(let limit):
            iteration = sharedIterations * shards + shard
            guard iteration < limit else { return finish(v, into: &actions) }
            sharedIterations += 1
        }
        if let limit = iterationLimit, iteration >= limit {
            actions.append(.dataExhausted)
            finish(v, into: &actions)
            return endIssuing(into: &actions)
        }
        send(v, iteration: iteration, intended: now, into: &actions)
    }

    // MARK: Open models

    /// Starts every arrival that is due, then asks for a tick at the next one (or at the end of issuing).
    private mutating func dispatchDue(now: RunTime, into actions: inout [LoadAction]) {
        guard phase == .issuing, let (schedule, vuLimits) = arrivals else { return }
        let maxVUs = share(of: vuLimits.max)
        let maxBacklog = share(of: vuLimits.maxBacklog)
        while let offset = schedule.offset(ofArrival: nextArrival) {
            let intended = RunTime(seconds: offset)
            if intended > now {
                actions.append(.scheduleTick(at: intended))
                return
            }
            if let limit = iterationLimit, nextArrival >= limit {
                actions.append(.dataExhausted)
                return endIssuing(into: &actions)
            }
            dispatchLateness.record(UInt64(max(0, now - intended) / 1_000))
            let iteration = nextArrival
            nextArrival += shards
            if let v = idle.popLast() {
                send(v, iteration: iteration, intended: intended, into: &actions)
            } else if vus.count < maxVUs {
                live += 1
                send(addVU(state: .idle), iteration: iteration, intended: intended, into: &actions)
            } else if backlogCount < maxBacklog {
                backloggedIterations += 1
                backlog.append(Job(iteration: iteration, intended: intended))
            } else {
                droppedIterations += 1
            }
        }
        // No arrivals left: the backlog may still start until the schedule's end.
        if now >= issueEnd {
            endIssuing(into: &actions)
        } else {
            actions.append(.scheduleTick(at: issueEnd))
        }
    }

    // MARK: Shared

    /// Issuing is over: waiting arrivals are dropped, idle and sleeping VUs are done, in-flight ones finish later.
    private mutating func endIssuing(into actions: inout [LoadAction]) {
        guard phase == .issuing else { return }
        phase = .draining
        droppedIterations += backlogCount
        backlog.removeAll()
        backlogHead = 0
        idle.removeAll()
        for v in vus.indices where vus[v].state == .idle || vus[v].state == .sleeping {
            if vus[v].state == .sleeping { actions.append(.cancelTimer(vu: v)) }
            finish(v, into: &actions)
        }
        if arrivals != nil { finishOne(into: &actions) }  // the dispatcher
    }

    private mutating func addVU(state: VUState) -> Int {
        vus.append(VU(id: vuID(slot: vus.count), state: state))
        return vus.count - 1
    }

    private mutating func send(_ v: Int, iteration: Int, intended: RunTime, into actions: inout [LoadAction]) {
        vus[v].state = .sending
        inFlight += 1
        actions.append(.send(vu: v, iteration: iteration, intended: intended))
    }

    private mutating func finish(_ v: Int, into actions: inout [LoadAction]) {
        guard vus[v].state != .finished else { return }
        vus[v].state = .finished
        finishOne(into: &actions)
    }

    private mutating func finishOne(into actions: inout [LoadAction]) {
        live -= 1
        if live == 0, phase != .finished {
            phase = .finished
            actions.append(.finish)
        }
    }
}
