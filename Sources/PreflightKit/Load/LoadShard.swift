import Histogram
import NIOCore

/// One event loop's share of the load: its VUs, their connections and its metrics, all isolated to the loop.
///
/// The actor's executor is the event loop, so a response read by NIO resumes its VU on the same thread, and the
/// metrics need no lock. Shard `k` of `n` takes arrivals `k, k+n, k+2n, …` (open models) or every n-th VU (closed).
actor LoadShard {
    struct Job {
        var iteration: Int
        var intended: NIODeadline
    }

    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    let index: Int
    let count: Int
    let plan: RequestPlan
    let load: LoadSettings
    let transport: any Transport
    let control: RunControl
    /// Set by `run(start:)`, after connections are open, so opening them is never measured.
    private(set) var start = NIODeadline.now()
    private(set) var issueEnd = NIODeadline.now()
    let bucketNanos: Int64

    private var metrics: RunMetrics
    private var intervals: [Int: IntervalStats] = [:]
    private var connections: [Int: any VUConnection] = [:]
    private var busy = 0
    private var regexes: [[Regex<AnyRegexOutput>?]]
    private var checkResults: [Bool] = []
    private var thinkRNG: SplitMix64
    private var closedIterations = 0
    /// Arrivals dispatched more than 10 ms after their intended time: the harness fell behind.
    private(set) var lateDispatches = 0

    // VU state.
    private var vus: [VU] = []
    /// VUs still running (plus the dispatcher while it issues); the run ends when it reaches 0.
    private var live = 0
    private var finished: UnsafeContinuation<Void, Never>?
    private var connectsPending = 0
    private var connectsDone: UnsafeContinuation<Void, Never>?
    private var abandoned = false

    // Open model state.
    private var arrivals: ArrivalSchedule?
    private var nextArrival = 0
    private var dispatcherTimer: Scheduled<Void>?
    private var issuing = true
    /// Indices of idle VUs in `vus`.
    private var idle: [Int] = []
    private var backlog = CircularBuffer<Job>()
    private var vuCount = 0
    private var sleepers: [Int: UnsafeContinuation<Void, Never>] = [:]
    private var nextSleeper = 0

    init(
        index: Int,
        count: Int,
        eventLoop: any EventLoop,
        plan: RequestPlan,
        load: LoadSettings,
        transport: any Transport,
        control: RunControl,
        bucketSeconds: Double
    ) {
        self.index = index
        self.count = count
        self.eventLoop = eventLoop
        self.plan = plan
        self.load = load
        self.transport = transport
        self.control = control
        self.bucketNanos = Int64(bucketSeconds * 1e9)
        self.metrics = RunMetrics(checkCounts: plan.checkLabels.map(\.count))
        self.regexes = plan.compileRegexes()
        self.thinkRNG = SplitMix64(seed: plan.seed ^ UInt64(index) &* 0xA24B_AED4_963E_E407)
    }

    /// This shard's share of `total`: shard k gets the k-th of n near-equal parts.
    nonisolated func share(of total: Int) -> Int { total / count + (index < total % count ? 1 : 0) }

    /// Global ids of this shard's VUs among `total`.
    nonisolated func vuIDs(of total: Int) -> [Int] { Array(stride(from: index, to: total, by: count)) }

    // MARK: Running

    /// Sends warm-up requests one after another; nothing is recorded.
    func warmup(requests: Int) async {
        for i in 0..<requests where !control.isStopping {
            _ = await connection(for: 0).execute(plan.prepare(iteration: i, vu: 0))
        }
    }

    /// Opens the connections of the VUs that exist from the start, all at once, so the first measured requests do
    /// not pay for connecting.
    func preconnect() async {
        let ids =
            load.executor.isOpenModel
            ? (0..<share(of: load.preAllocatedVUs)).map { $0 * count + index } : vuIDs(of: load.maxVUs)
        guard !ids.isEmpty else { return }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            connectsPending = ids.count
            connectsDone = continuation
            for id in ids {
                connection(for: id).connect { [self] _ in
                    self.assumeIsolated { shard in
                        shard.connectsPending -= 1
                        if shard.connectsPending == 0 { shard.connectsDone.take()?.resume() }
                    }
                }
            }
        }
    }

    /// Runs the executor's share of iterations; returns when every VU of the shard has finished.
    ///
    /// VUs are callback chains on the event loop (response → record → next request), not tasks: a suspended
    /// task resumes through the global executor, which costs a thread hop per request.
    func run(start: NIODeadline) async {
        self.start = start
        issueEnd = start + .nanoseconds(Int64(load.issuingSeconds * 1e9))
        if NIODeadline.now() < start { await sleep(until: start) }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            finished = continuation
            switch load.executor {
            case .constantArrivalRate(let rate, let timeUnit, let duration):
                startOpen(ArrivalSchedule(constantRate: rate, timeUnit: timeUnit, duration: duration))
            case .rampingArrivalRate(let startRate, let timeUnit, let stages):
                startOpen(ArrivalSchedule(startRate: startRate, timeUnit: timeUnit, stages: stages))
            case .constantVUs, .rampingVUs, .perVUIterations:
                startClosed()
            }
        }
        metrics.vusMax = load.executor.isOpenModel ? vuCount : vuIDs(of: load.maxVUs).count
    }

    /// One VU: its id, connection and pending timer. VUs are addressed by their index in `vus`, so callbacks
    /// capture only an `Int`.
    struct VU {
        let id: Int
        let connection: any VUConnection
        var done = 0
        var timer: Scheduled<Void>?
    }

    /// What a VU does once its request is recorded, or its timer fires.
    enum Step {
        /// Closed models: the next iteration (after think time, if any).
        case iterate
        /// Closed models: the next iteration now (think time is over, or the VU waits for a ramp).
        case iterateNow
        /// Open models: the next job from the backlog, or back to the idle VUs.
        case nextJob
    }

    private func vuFinished() {
        live -= 1
        if live == 0, let continuation = finished {
            finished = nil
            continuation.resume()
        }
    }

    /// Runs `step` for VU `v` at `deadline`, unless the run is abandoned first.
    private func later(_ v: Int, until deadline: NIODeadline, _ step: Step) {
        vus[v].timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.assumeIsolated { shard in
                shard.vus[v].timer = nil
                shard.advance(v, step)
            }
        }
    }

    private func advance(_ v: Int, _ step: Step) {
        switch step {
        case .iterate:
            vus[v].done += 1
            if let think = load.thinkTime, think.upperBound > 0 {
                let span = think.upperBound - think.lowerBound
                let pause = think.lowerBound + (span > 0 ? Double.random(in: 0...span, using: &thinkRNG) : 0)
                later(v, until: .now() + .nanoseconds(Int64(pause * 1e9)), .iterateNow)
            } else {
                nextIteration(v)
            }
        case .iterateNow:
            nextIteration(v)
        case .nextJob:
            if let next = backlog.popFirst() {
                runJob(v, next)
            } else if issuing && !abandoned {
                idle.append(v)
            } else {
                vuFinished()
            }
        }
    }

    private func addVU(id: Int) -> Int {
        vus.append(VU(id: id, connection: connection(for: id)))
        return vus.count - 1
    }

    // MARK: Closed models

    private func startClosed() {
        let ids = vuIDs(of: load.maxVUs)
        live = ids.count + 1
        for id in ids { nextIteration(addVU(id: id)) }
        vuFinished()  // the start itself, so an empty shard finishes too
    }

    private func nextIteration(_ v: Int) {
        let now = NIODeadline.now()
        guard !control.isStopping, now < issueEnd, !abandoned else { return vuFinished() }
        let iteration: Int
        switch load.executor {
        case .perVUIterations(_, let iterations, _):
            guard vus[v].done < iterations else { return vuFinished() }
            iteration = vus[v].id * iterations + vus[v].done
        case .rampingVUs(let startVUs, let stages):
            let target = VUSchedule(startVUs: startVUs, stages: stages).target(at: seconds(now - start))
            if vus[v].id >= target {
                return later(v, until: min(now + .milliseconds(50), issueEnd), .iterateNow)
            }
            iteration = closedIterations * count + index
            closedIterations += 1
        default:
            iteration = closedIterations * count + index
            closedIterations += 1
        }
        if plan.isExhausted(iteration: iteration) {
            control.dataExhausted()
            control.stop()
            return vuFinished()
        }
        execute(v, iteration: iteration, intended: now, then: .iterate)
    }

    // MARK: Open models

    private func startOpen(_ schedule: ArrivalSchedule) {
        arrivals = schedule
        nextArrival = index
        for _ in 0..<share(of: load.preAllocatedVUs) { idle.append(newVU()) }
        live = idle.count + 1  // the dispatcher counts as one until issuing ends
        dispatchDue()
    }

    private func newVU() -> Int {
        let id = vuCount * count + index
        vuCount += 1
        return addVU(id: id)
    }

    /// Starts every arrival that is due, then sleeps until the next one (at most 50 ms, to notice a stop).
    private func dispatchDue() {
        guard let schedule = arrivals, issuing else { return }
        let maxVUs = share(of: load.maxVUs)
        let maxBacklog = share(of: load.maxBacklog)
        while !control.isStopping && !abandoned, let offset = schedule.offset(ofArrival: nextArrival) {
            let intended = start + .nanoseconds(Int64(offset * 1e9))
            let now = NIODeadline.now()
            if intended > now {
                let wake = min(intended, now + .milliseconds(50))
                dispatcherTimer = eventLoop.assumeIsolated().scheduleTask(deadline: wake) { [self] in
                    self.assumeIsolated { $0.dispatchDue() }
                }
                return
            }
            if plan.isExhausted(iteration: nextArrival) {
                control.dataExhausted()
                control.stop()
                break
            }
            if now - intended > .milliseconds(10) { lateDispatches += 1 }
            let job = Job(iteration: nextArrival, intended: intended)
            nextArrival += count
            if let v = idle.popLast() {
                runJob(v, job)
            } else if vuCount < maxVUs {
                live += 1
                runJob(newVU(), job)
            } else if backlog.count < maxBacklog {
                backlog.append(job)
            } else {
                metrics.droppedIterations += 1
            }
        }
        endIssuing()
    }

    /// Iterations still waiting never started in time, so they count as dropped; idle VUs are done.
    private func endIssuing() {
        guard issuing else { return }
        issuing = false
        dispatcherTimer?.cancel()
        dispatcherTimer = nil
        metrics.droppedIterations += backlog.count
        backlog.removeAll()
        let waiting = idle.count
        idle.removeAll()
        for _ in 0..<waiting { vuFinished() }
        vuFinished()  // the dispatcher
    }

    private func runJob(_ v: Int, _ job: Job) {
        execute(v, iteration: job.iteration, intended: job.intended, then: .nextJob)
    }

    /// Stops everything still in flight: used after `gracefulStop`.
    func abandonAll() {
        abandoned = true
        if arrivals != nil { endIssuing() }
        for v in vus.indices {
            if let timer = vus[v].timer {
                timer.cancel()
                vus[v].timer = nil
                vuFinished()
            }
        }
        for connection in connections.values { connection.close() }
        for sleeper in sleepers.values { sleeper.resume() }
        sleepers.removeAll()
    }

    // MARK: One request

    private func connection(for vu: Int) -> any VUConnection {
        if let c = connections[vu] { return c }
        let c = transport.makeConnection(on: eventLoop)
        connections[vu] = c
        return c
    }

    /// Sends iteration `iteration` on VU `v`, records the outcome, then takes `step` (an abandoned request is
    /// not recorded and its VU finishes).
    private func execute(_ v: Int, iteration: Int, intended: NIODeadline, then step: Step) {
        let vu = vus[v].id
        let request = plan.prepare(iteration: iteration, vu: vu)
        busy += 1
        let sent = NIODeadline.now()
        vus[v].connection.send(request) { [self] outcome in
            let end = NIODeadline.now()
            self.assumeIsolated { shard in
                shard.busy -= 1
                guard !outcome.abandoned else { return shard.vuFinished() }
                shard.record(request, outcome, vu: vu, intended: intended, sent: sent, end: end)
                shard.advance(v, step)
            }
        }
    }

    private func record(
        _ request: PreparedRequest,
        _ outcome: HTTPOutcome,
        vu: Int,
        intended: NIODeadline,
        sent: NIODeadline,
        end: NIODeadline
    ) {
        let r = request.requestIndex
        let status = outcome.error == nil ? outcome.status : 0
        let corrected = UInt64(max(0, (end - intended).nanoseconds / 1000))
        let uncorrected = UInt64(max(0, (end - sent).nanoseconds / 1000))
        Self.add(corrected, uncorrected, to: &metrics.requests[r].byStatus[status, default: LatencyPair()])
        var errorClass = outcome.error
        if errorClass == nil {
            if status >= 500 { errorClass = .http5xx } else if status >= 400 { errorClass = .http4xx }
        }
        plan.evaluateChecks(
            r,
            outcome: outcome,
            iteration: request.iteration,
            vu: vu,
            regexes: regexes[r],
            into: &checkResults
        )
        var checkFailed = false
        for (n, ok) in checkResults.enumerated() {
            if ok && outcome.error == nil {
                metrics.requests[r].checksPassed[n] += 1
            } else {
                metrics.requests[r].checksFailed[n] += 1
                checkFailed = true
            }
        }
        if errorClass == nil && checkFailed { errorClass = .check }
        if let errorClass { metrics.requests[r].errors[errorClass.rawValue] += 1 }
        metrics.requests[r].bytesIn += outcome.bytesIn
        metrics.requests[r].bytesOut += request.bytes.readableBytes
        if outcome.bodyTruncated { metrics.requests[r].truncatedBodies += 1 }
        metrics.iterations += 1
        let bucket = max(0, Int((end - start).nanoseconds / bucketNanos))
        Self.add(corrected, failed: errorClass != nil, vus: busy + 1, to: &intervals[bucket, default: IntervalStats()])
        metrics.vusPeak = max(metrics.vusPeak, busy + 1)
    }

    // One dictionary access each on the hot path: the value is updated in place.
    private static func add(_ corrected: UInt64, _ uncorrected: UInt64, to pair: inout LatencyPair) {
        pair.corrected.record(corrected)
        pair.uncorrected.record(uncorrected)
    }

    private static func add(_ corrected: UInt64, failed: Bool, vus: Int, to stats: inout IntervalStats) {
        stats.requests += 1
        if failed { stats.errors += 1 }
        stats.latency.record(corrected)
        stats.activeVUs = max(stats.activeVUs, vus)
    }

    // MARK: Collection

    /// Hands over the time buckets that ended before `bucket` (all of them when nil).
    func drainIntervals(before bucket: Int?) -> [Int: IntervalStats] {
        guard let bucket else {
            defer { intervals.removeAll() }
            return intervals
        }
        var done: [Int: IntervalStats] = [:]
        for key in intervals.keys where key < bucket { done[key] = intervals.removeValue(forKey: key) }
        return done
    }

    /// A copy of the metrics so far (for live threshold evaluation and the final report).
    func snapshot() -> RunMetrics { metrics }

    /// VUs busy right now and VUs that exist.
    func vuCounts() -> (busy: Int, existing: Int) {
        (busy, load.executor.isOpenModel ? vuCount : vuIDs(of: load.maxVUs).count)
    }

    // MARK: Time

    private func sleep(until deadline: NIODeadline) async {
        let id = nextSleeper
        nextSleeper += 1
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            sleepers[id] = continuation
            eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
                self.assumeIsolated { shard in shard.wake(id) }
            }
        }
    }

    private func wake(_ id: Int) {
        // A sleeper woken by abandonAll() is gone from the table and must not be resumed twice.
        sleepers.removeValue(forKey: id)?.resume()
    }

    private func seconds(_ amount: TimeAmount) -> Double { Double(amount.nanoseconds) / 1e9 }
}
