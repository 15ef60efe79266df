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
    let start: NIODeadline
    let issueEnd: NIODeadline
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

    // Open model state.
    private var issuing = true
    private var idle: [UnsafeContinuation<Job?, Never>] = []
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
        start: NIODeadline,
        bucketSeconds: Double
    ) {
        self.index = index
        self.count = count
        self.eventLoop = eventLoop
        self.plan = plan
        self.load = load
        self.transport = transport
        self.control = control
        self.start = start
        self.issueEnd = start + .nanoseconds(Int64(load.issuingSeconds * 1e9))
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

    /// Opens the connections of the VUs that exist from the start, so the first measured requests do not pay
    /// for connecting.
    func preconnect() async {
        let vus = load.executor.isOpenModel ? share(of: load.preAllocatedVUs) : vuIDs(of: load.maxVUs).count
        let ids = load.executor.isOpenModel ? Array(0..<vus).map { $0 * count + index } : vuIDs(of: load.maxVUs)
        for id in ids { await connection(for: id).prepare() }
    }

    func run() async {
        if NIODeadline.now() < start { await sleep(until: start) }
        switch load.executor {
        case .constantArrivalRate(let rate, let timeUnit, let duration):
            await runOpen(ArrivalSchedule(constantRate: rate, timeUnit: timeUnit, duration: duration))
        case .rampingArrivalRate(let startRate, let timeUnit, let stages):
            await runOpen(ArrivalSchedule(startRate: startRate, timeUnit: timeUnit, stages: stages))
        case .constantVUs, .rampingVUs, .perVUIterations:
            await runClosed()
        }
        metrics.vusMax = load.executor.isOpenModel ? vuCount : vuIDs(of: load.maxVUs).count
    }

    private func runClosed() async {
        await withTaskGroup(of: Void.self) { group in
            for vu in vuIDs(of: load.maxVUs) {
                group.addTask { await self.closedVU(vu) }
            }
        }
    }

    private func closedVU(_ vu: Int) async {
        var done = 0
        while !control.isStopping {
            let now = NIODeadline.now()
            guard now < issueEnd else { break }
            let iteration: Int
            switch load.executor {
            case .perVUIterations(_, let iterations, _):
                guard done < iterations else { return }
                iteration = vu * iterations + done
            case .rampingVUs(let startVUs, let stages, _):
                let target = VUSchedule(startVUs: startVUs, stages: stages).target(at: seconds(now - start))
                if vu >= target {
                    await sleep(until: min(now + .milliseconds(50), issueEnd))
                    continue
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
                break
            }
            await execute(iteration: iteration, vu: vu, intended: now)
            done += 1
            if let think = load.thinkTime, think.upperBound > 0 {
                let span = think.upperBound - think.lowerBound
                let pause = think.lowerBound + (span > 0 ? Double.random(in: 0...span, using: &thinkRNG) : 0)
                await sleep(until: NIODeadline.now() + .nanoseconds(Int64(pause * 1e9)))
            }
        }
    }

    private func runOpen(_ schedule: ArrivalSchedule) async {
        let maxVUs = share(of: load.maxVUs)
        let maxBacklog = share(of: load.maxBacklog)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<share(of: load.preAllocatedVUs) {
                let id = vuCount * count + index
                vuCount += 1
                group.addTask { await self.openVU(id, first: nil) }
            }
            var i = index
            while !control.isStopping, let offset = schedule.offset(ofArrival: i) {
                let intended = start + .nanoseconds(Int64(offset * 1e9))
                let now = NIODeadline.now()
                if intended > now {
                    await sleep(until: min(intended, now + .milliseconds(50)))
                    continue
                }
                if plan.isExhausted(iteration: i) {
                    control.dataExhausted()
                    control.stop()
                    break
                }
                if now - intended > .milliseconds(10) { lateDispatches += 1 }
                let job = Job(iteration: i, intended: intended)
                i += count
                if let waiting = idle.popLast() {
                    waiting.resume(returning: job)
                } else if vuCount < maxVUs {
                    let id = vuCount * count + index
                    vuCount += 1
                    group.addTask { await self.openVU(id, first: job) }
                } else if backlog.count < maxBacklog {
                    backlog.append(job)
                } else {
                    metrics.droppedIterations += 1
                }
            }
            // Issuing is over: iterations still waiting never started in time, so they count as dropped.
            issuing = false
            metrics.droppedIterations += backlog.count
            backlog.removeAll()
            for waiting in idle { waiting.resume(returning: nil) }
            idle.removeAll()
        }
    }

    private func openVU(_ vu: Int, first: Job?) async {
        var job = first
        while true {
            if job == nil {
                if let queued = backlog.popFirst() {
                    job = queued
                } else if issuing {
                    job = await withUnsafeContinuation { idle.append($0) }
                }
            }
            guard let current = job else { return }
            job = nil
            await execute(iteration: current.iteration, vu: vu, intended: current.intended)
        }
    }

    /// Stops everything still in flight: used after `gracefulStop`.
    func abandonAll() {
        issuing = false
        for connection in connections.values { connection.close() }
        for waiting in idle { waiting.resume(returning: nil) }
        idle.removeAll()
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

    private func execute(iteration: Int, vu: Int, intended: NIODeadline) async {
        let request = plan.prepare(iteration: iteration, vu: vu)
        let conn = connection(for: vu)
        busy += 1
        let sent = NIODeadline.now()
        let outcome = await conn.execute(request)
        let end = NIODeadline.now()
        busy -= 1
        guard !outcome.abandoned else { return }
        record(request, outcome, vu: vu, intended: intended, sent: sent, end: end)
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
        metrics.requests[r].byStatus[status, default: LatencyPair()].corrected.record(corrected)
        metrics.requests[r].byStatus[status, default: LatencyPair()].uncorrected.record(uncorrected)
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
        intervals[bucket, default: IntervalStats()].requests += 1
        if errorClass != nil { intervals[bucket, default: IntervalStats()].errors += 1 }
        intervals[bucket, default: IntervalStats()].latency.record(corrected)
        intervals[bucket, default: IntervalStats()].activeVUs = max(
            intervals[bucket, default: IntervalStats()].activeVUs,
            busy + 1
        )
        metrics.vusPeak = max(metrics.vusPeak, busy + 1)
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
