import Foundation
import Histogram
import NIOCore
import PreflightCore

/// One event loop's share of the load: its VUs, their connections and its metrics, all isolated to the loop.
///
/// The actor's executor is the event loop, so a response read by NIO resumes its VU on the same thread, and the
/// metrics need no lock. Shard `k` of `n` takes arrivals `k, k+n, k+2n, …` (open models) or every n-th VU (closed).
actor LoadShard {
    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    let plan: RequestPlan
    /// Where requests go: a flow's cookies are matched against its host, path and scheme.
    let target: TargetURL
    let transport: any Transport
    let control: RunControl
    /// Set by `run(start:)`, after connections are open, so opening them is never measured.
    private(set) var start = NIODeadline.now()
    let bucketNanos: Int64
    /// Whether buckets keep each request's detail (something watches the run live).
    let liveDetail: Bool

    // The state touched for every request is `@exclusivity(unchecked)`: the shard runs on its one event loop and
    // never holds an access across a call that could re-enter, and the runtime's dynamic exclusivity checks
    // (`swift_beginAccess`, a thread-local access set) measured ~5 % of the load path's CPU with `perf`.
    @exclusivity(unchecked) private var machine: ExecutorStateMachine
    /// Reused for every event, so the hot path allocates no action list.
    @exclusivity(unchecked) private var actions: [LoadAction] = []
    @exclusivity(unchecked) private var metrics: RunMetrics
    @exclusivity(unchecked) private var intervals: [Int: IntervalStats] = [:]
    /// Connections and pending timers by VU slot.
    @exclusivity(unchecked) private var connections: [any VUConnection] = []
    @exclusivity(unchecked) private var timers: [Scheduled<Void>?] = []
    /// What each VU slot has in flight, so that requests abandoned after `gracefulStop` are recorded too.
    @exclusivity(unchecked) private var inFlight: [PendingSend?] = []
    private var tickTimer: Scheduled<Void>?
    @exclusivity(unchecked) private var regexes: [[LinearRegex?]]
    @exclusivity(unchecked) private var checkResults: [Bool] = []
    /// The iteration each VU slot is walking through a flow (nil between iterations, and without a flow).
    @exclusivity(unchecked) private var flows: [FlowRun?] = []
    /// A flow step's next `until` attempt, by VU slot.
    private var flowTimers: [Scheduled<Void>?] = []
    private let stepRegexes: [(captures: [LinearRegex?], until: LinearRegex?)]
    private var finished: UnsafeContinuation<Void, Never>?
    private var connectsPending = 0
    private var connectsDone: UnsafeContinuation<Void, Never>?
    private var sleepers: [Int: UnsafeContinuation<Void, Never>] = [:]
    private var nextSleeper = 0

    init(
        index: Int,
        count: Int,
        eventLoop: any EventLoop,
        plan: RequestPlan,
        target: TargetURL,
        load: LoadSettings,
        transport: any Transport,
        control: RunControl,
        bucketSeconds: Double,
        liveDetail: Bool = false
    ) {
        self.liveDetail = liveDetail
        self.eventLoop = eventLoop
        self.plan = plan
        self.target = target
        self.transport = transport
        self.control = control
        self.bucketNanos = Int64(bucketSeconds * 1e9)
        self.metrics = RunMetrics(checkCounts: plan.checkLabels.map(\.count))
        self.regexes = plan.compileRegexes()
        self.stepRegexes = plan.compileStepRegexes()
        self.machine = ExecutorStateMachine(
            executor: load.executor,
            shard: index,
            shards: count,
            iterationLimit: plan.iterationLimit,
            seed: plan.seed
        )
    }

    /// How late scheduled starts were handled (µs).
    var dispatchLateness: LatencyHistogram { machine.dispatchLateness }

    // MARK: Running

    /// Sends warm-up requests one after another; nothing is recorded. A segment warms up with its own iteration
    /// numbers (`I, I+N, …`), so it uses no data another segment uses.
    /// A flow warms up with its first step only: the later ones need what earlier steps capture.
    func warmup(requests: Int, segment: ExecutionSegment = .whole) async {
        for i in 0..<requests where !control.isStopping {
            let iteration = segment.index + i * segment.count
            let vu = machine.vuID(slot: 0)
            let request =
                plan.steps == nil
                ? plan.prepare(iteration: iteration, vu: vu) : plan.prepare(request: 0, iteration: iteration, vu: vu)
            _ = await connection(slot: 0).execute(request)
        }
    }

    /// Opens the connections of the VUs that exist from the start, all at once, so the first measured requests do
    /// not pay for connecting.
    func preconnect() async {
        let count = machine.initialVUs
        guard count > 0 else { return }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            connectsPending = count
            connectsDone = continuation
            for slot in 0..<count {
                connection(slot: slot).connect { [self] _ in
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
        if NIODeadline.now() < start { await sleep(until: start) }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            finished = continuation
            // A stop that came before the start (SIGINT during the probe or the connection set-up) already
            // finished the machine; its `finish` found no one waiting.
            if machine.isFinished {
                finished.take()?.resume()
                return
            }
            if control.isStopping {
                machine.stop(now: now(), into: &actions)
            } else {
                machine.start(now: now(), into: &actions)
            }
            perform()
        }
        metrics.vusMax = machine.vus.count
        metrics.droppedIterations = machine.droppedIterations
        metrics.backloggedIterations = machine.backloggedIterations
        metrics.abandonedIterations = machine.abandonedIterations
    }

    /// No new iterations: the run was interrupted, aborted, or ran out of data.
    func stop() {
        machine.stop(now: now(), into: &actions)
        perform()
    }

    /// Stops everything still in flight: used after `gracefulStop`.
    func abandonAll() {
        // Requests still in flight are failures the target caused: recorded as `aborted`, with the latency they
        // had reached (a lower bound), so they count in `http_req_failed`.
        let now = NIODeadline.now()
        var aborted = HTTPOutcome()
        aborted.error = .aborted
        for (v, pending) in inFlight.enumerated() {
            guard let pending, v < machine.vus.count, machine.vus[v].state == .sending else { continue }
            record(pending.request, aborted, vu: pending.vu, intended: pending.intended, sent: pending.sent, end: now)
            inFlight[v] = nil
        }
        for v in flowTimers.indices {
            flowTimers[v]?.cancel()
            flowTimers[v] = nil
        }
        // Cleared in place: a slot is indexed by VU, so the arrays keep their length.
        for v in flows.indices { flows[v] = nil }
        machine.abandon(into: &actions)
        perform()
        for connection in connections { connection.close() }
        for sleeper in sleepers.values { sleeper.resume() }
        sleepers.removeAll()
    }

    /// Does what the state machine asked for. Nothing here calls back into the machine synchronously (a send
    /// completes, and a timer fires, on a later turn of the loop), so one reusable action list suffices.
    private func perform() {
        for action in actions {
            switch action {
            case .send(let v, let iteration, let intended):
                send(v, iteration: iteration, intended: start + .nanoseconds(intended))
            case .schedule(let v, let at):
                if timers.count <= v { timers.append(contentsOf: repeatElement(nil, count: v + 1 - timers.count)) }
                timers[v]?.cancel()
                timers[v] = eventLoop.assumeIsolated().scheduleTask(deadline: start + .nanoseconds(at)) { [self] in
                    self.assumeIsolated { shard in
                        shard.timers[v] = nil
                        shard.machine.timerFired(vu: v, now: shard.now(), into: &shard.actions)
                        shard.perform()
                    }
                }
            case .cancelTimer(let v):
                if v < timers.count {
                    timers[v]?.cancel()
                    timers[v] = nil
                }
            case .scheduleTick(let at):
                tickTimer?.cancel()
                tickTimer = eventLoop.assumeIsolated().scheduleTask(deadline: start + .nanoseconds(at)) { [self] in
                    self.assumeIsolated { shard in
                        shard.tickTimer = nil
                        shard.machine.tick(now: shard.now(), into: &shard.actions)
                        shard.perform()
                    }
                }
            case .dataExhausted:
                control.dataExhausted()
                control.stop()
            case .finish:
                tickTimer?.cancel()
                tickTimer = nil
                finished.take()?.resume()
            }
        }
        actions.removeAll(keepingCapacity: true)
    }

    private func now() -> RunTime { (NIODeadline.now() - start).nanoseconds }

    // MARK: One request

    private func connection(slot: Int) -> any VUConnection {
        while connections.count <= slot { connections.append(transport.makeConnection(on: eventLoop)) }
        return connections[slot]
    }

    /// A request in flight on a VU slot.
    struct PendingSend {
        var request: PreparedRequest
        var vu: Int
        var intended: NIODeadline
        var sent: NIODeadline
    }

    /// Sends `iteration` on VU slot `v`, records the outcome, then feeds the response to the state machine (an
    /// abandoned request was recorded by `abandonAll`).
    private func send(_ v: Int, iteration: Int, intended: NIODeadline) {
        let vu = machine.vuID(slot: v)
        if plan.steps != nil {
            if flows.count <= v { flows.append(contentsOf: repeatElement(nil, count: v + 1 - flows.count)) }
            flows[v] = FlowRun(iteration: iteration, vu: vu, intended: intended)
            sendStep(v)
            return
        }
        let request = plan.prepare(iteration: iteration, vu: vu)
        let sent = NIODeadline.now()
        if inFlight.count <= v { inFlight.append(contentsOf: repeatElement(nil, count: v + 1 - inFlight.count)) }
        inFlight[v] = PendingSend(request: request, vu: vu, intended: intended, sent: sent)
        connection(slot: v).send(request) { [self] outcome in
            let end = NIODeadline.now()
            self.assumeIsolated { shard in
                guard !outcome.abandoned, !shard.machine.isFinished else { return }
                if outcome.location != nil, let next = shard.redirected(request, outcome, hops: 0) {
                    shard.follow(v, next, from: request, hops: 1, carried: outcome) { shard, final, end in
                        shard.answered(v, request, final, vu: vu, intended: intended, sent: sent, end: end)
                    }
                    return
                }
                shard.answered(v, request, outcome, vu: vu, intended: intended, sent: sent, end: end)
            }
        }
    }

    private func answered(
        _ v: Int,
        _ request: PreparedRequest,
        _ outcome: HTTPOutcome,
        vu: Int,
        intended: NIODeadline,
        sent: NIODeadline,
        end: NIODeadline
    ) {
        inFlight[v] = nil
        record(request, outcome, vu: vu, intended: intended, sent: sent, end: end)
        iterationEnded(v, end: end)
    }

    /// VU slot `v` finished its iteration (a request, or a whole flow): the machine decides what it does next.
    private func iterationEnded(_ v: Int, end: NIODeadline) {
        if control.isStopping { machine.stop(now: (end - start).nanoseconds, into: &actions) }
        machine.responded(vu: v, now: (end - start).nanoseconds, into: &actions)
        perform()
    }

    // MARK: Redirects

    /// The request a redirect answer asks for, while `http.redirects` allows another hop; nil otherwise (the 3xx is
    /// then the answer).
    private func redirected(_ request: PreparedRequest, _ outcome: HTTPOutcome, hops: Int) -> PreparedRequest? {
        guard hops < plan.redirects, outcome.error == nil, let location = outcome.location,
            let message = Redirect.next(
                after: request.message,
                status: outcome.status,
                location: location,
                target: target
            )
        else { return nil }
        var next = request
        next.message = message
        next.isConstant = false
        return next
    }

    /// Sends a redirect's next request on the same VU slot and follows on; `done` gets the final answer with the
    /// bytes of every hop and the number of redirects. Only redirects take this path: a plain answer costs the
    /// load path nothing more than the `location` check.
    private func follow(
        _ v: Int,
        _ request: PreparedRequest,
        from previous: PreparedRequest,
        hops: Int,
        carried: HTTPOutcome,
        done: @escaping @Sendable (isolated LoadShard, HTTPOutcome, NIODeadline) -> Void
    ) {
        var request = request
        if plan.cookies, v < flows.count, flows[v] != nil {
            // A login that sets its cookie on a 302 is followed with it.
            storeCookies(v, carried, path: previous.message.path)
            if let jar = flows[v]?.cookies, !jar.isEmpty { addCookies(jar, to: &request) }
        }
        let sending = request
        connection(slot: v).send(sending) { [self] outcome in
            let end = NIODeadline.now()
            self.assumeIsolated { shard in
                guard !outcome.abandoned, !shard.machine.isFinished else { return }
                var outcome = outcome
                outcome.bytesIn += carried.bytesIn
                outcome.bytesOut += carried.bytesOut
                outcome.phases.add(carried.phases)
                outcome.redirects = hops
                if outcome.location != nil, let next = shard.redirected(sending, outcome, hops: hops) {
                    shard.follow(v, next, from: sending, hops: hops + 1, carried: outcome, done: done)
                    return
                }
                done(shard, outcome, end)
            }
        }
    }

    /// Records one exchange; returns its error class (nil when it succeeded). `captureFailed`: a flow step's
    /// capture found nothing, which makes an otherwise good answer error class `capture`. `checked` false: an
    /// `until` attempt before the last, whose checks are not judged (a job still running is no failed check).
    @discardableResult
    private func record(
        _ request: PreparedRequest,
        _ outcome: HTTPOutcome,
        vu: Int,
        intended: NIODeadline,
        sent: NIODeadline,
        end: NIODeadline,
        captures: [RequestPlan.Value?] = [],
        captureFailed: Bool = false,
        checked: Bool = true
    ) -> ErrorClass? {
        let r = request.requestIndex
        let status = outcome.error == nil ? outcome.status : 0
        let corrected = UInt64(max(0, (end - intended).nanoseconds / 1000))
        let uncorrected = UInt64(max(0, (end - sent).nanoseconds / 1000))
        Self.add(corrected, uncorrected, to: &metrics.requests[r].byStatus[status, default: LatencyPair()])
        if status > 0 { metrics.requests[r].record(outcome.phases) }
        if outcome.http2 {
            metrics.requests[r].http2 += 1
            if outcome.retriedAfterGoAway { metrics.requests[r].goAwayRetries += 1 }
        }
        var errorClass = outcome.error
        if errorClass == nil {
            if status >= 500 { errorClass = .http5xx } else if status >= 400 { errorClass = .http4xx }
        }
        if checked {
            plan.evaluateChecks(
                r,
                outcome: outcome,
                iteration: request.iteration,
                vu: vu,
                regexes: regexes[r],
                captures: captures,
                into: &checkResults
            )
        } else {
            checkResults.removeAll(keepingCapacity: true)
        }
        var checkFailed = false
        var checksFailed = 0
        for (n, ok) in checkResults.enumerated() {
            if ok && outcome.error == nil {
                metrics.requests[r].checksPassed[n] += 1
            } else {
                metrics.requests[r].checksFailed[n] += 1
                checkFailed = true
                checksFailed += 1
            }
        }
        if errorClass == nil && checkFailed { errorClass = .check }
        if errorClass == nil && captureFailed { errorClass = .capture }
        if let errorClass { metrics.requests[r].errors[errorClass.rawValue] += 1 }
        metrics.requests[r].bytesIn += outcome.bytesIn
        metrics.requests[r].bytesOut += outcome.bytesOut
        if outcome.bodyTruncated { metrics.requests[r].truncatedBodies += 1 }
        metrics.requests[r].redirects += outcome.redirects
        // A flow counts its iterations when the last step ends (`finishFlow`).
        if plan.steps == nil { metrics.iterations += 1 }
        let bucket = max(0, Int((end - start).nanoseconds / bucketNanos))
        // The machine still counts this request as in flight.
        let busy = machine.inFlight
        Self.add(corrected, failed: errorClass != nil, vus: busy, to: &intervals[bucket, default: IntervalStats()])
        if liveDetail {
            Self.add(
                r,
                status: status,
                corrected,
                uncorrected,
                checks: (checkResults.count - checksFailed, checksFailed),
                to: &intervals[bucket, default: IntervalStats()]
            )
        }
        metrics.vusPeak = max(metrics.vusPeak, busy)
        return errorClass
    }

    // MARK: Flows

    /// A VU's walk through one iteration of a flow.
    struct FlowRun {
        var iteration: Int
        var vu: Int
        /// When the iteration was due: coordinated omission applies to its first step and its duration.
        var intended: NIODeadline
        var step = 0
        /// Attempts of the current step (an `until` step repeats).
        var attempt = 1
        var captures: [RequestPlan.Value?] = []
        /// Cookies the iteration's answers set; each iteration starts with none (k6's default).
        var cookies = CookieJar()

        init(iteration: Int, vu: Int, intended: NIODeadline) {
            self.iteration = iteration
            self.vu = vu
            self.intended = intended
        }
    }

    /// Sends the current step of VU slot `v`'s flow; only its first attempt of the first step is measured from the
    /// intended start, every later request from its own send (it could not have been sent earlier).
    private func sendStep(_ v: Int) {
        guard let f = flows[v] else { return }
        var prepared = plan.prepare(request: f.step, iteration: f.iteration, vu: f.vu, captures: f.captures)
        if !f.cookies.isEmpty { addCookies(f.cookies, to: &prepared) }
        let request = prepared
        let sent = NIODeadline.now()
        let intended = f.step == 0 && f.attempt == 1 ? f.intended : sent
        if inFlight.count <= v { inFlight.append(contentsOf: repeatElement(nil, count: v + 1 - inFlight.count)) }
        inFlight[v] = PendingSend(request: request, vu: f.vu, intended: intended, sent: sent)
        connection(slot: v).send(request) { [self] outcome in
            let end = NIODeadline.now()
            self.assumeIsolated { shard in
                guard !outcome.abandoned, !shard.machine.isFinished else { return }
                if outcome.location != nil, let next = shard.redirected(request, outcome, hops: 0) {
                    shard.follow(v, next, from: request, hops: 1, carried: outcome) { shard, final, end in
                        shard.inFlight[v] = nil
                        shard.stepAnswered(v, request, final, intended: intended, sent: sent, end: end)
                    }
                    return
                }
                shard.inFlight[v] = nil
                shard.stepAnswered(v, request, outcome, intended: intended, sent: sent, end: end)
            }
        }
    }

    private func stepAnswered(
        _ v: Int,
        _ request: PreparedRequest,
        _ outcome: HTTPOutcome,
        intended: NIODeadline,
        sent: NIODeadline,
        end: NIODeadline
    ) {
        guard var f = flows[v], let steps = plan.steps else { return }
        let step = steps[f.step]
        if plan.cookies {
            storeCookies(v, outcome, path: request.message.path)
            f = flows[v] ?? f
        }
        let held = plan.untilHolds(
            step: f.step,
            outcome: outcome,
            iteration: f.iteration,
            vu: f.vu,
            regex: stepRegexes[f.step].until,
            captures: f.captures
        )
        if !held, let until = step.until, f.attempt < until.max {
            // Not done yet: this attempt is a request like any other (latency, status, errors), but its answer is
            // neither captured from nor checked: the step's checks judge the answer the polling ends on.
            record(
                request,
                outcome,
                vu: f.vu,
                intended: intended,
                sent: sent,
                end: end,
                captures: f.captures,
                checked: false
            )
            f.attempt += 1
            flows[v] = f
            if flowTimers.count <= v {
                flowTimers.append(contentsOf: repeatElement(nil, count: v + 1 - flowTimers.count))
            }
            flowTimers[v] = eventLoop.assumeIsolated().scheduleTask(
                deadline: end + .nanoseconds(Int64(until.every * 1e9))
            ) { [self] in
                self.assumeIsolated { shard in
                    shard.flowTimers[v] = nil
                    guard !shard.machine.isFinished else { return }
                    shard.sendStep(v)
                }
            }
            return
        }
        let captured = plan.capture(
            step: f.step,
            outcome: outcome,
            regexes: stepRegexes[f.step].captures,
            into: &f.captures
        )
        let error = record(
            request,
            outcome,
            vu: f.vu,
            intended: intended,
            sent: sent,
            end: end,
            captures: f.captures,
            captureFailed: !captured
        )
        let failed = error != nil || !held
        let last = f.step + 1 == steps.count
        if failed && step.onFailure == .stop && !last {
            metrics.flowsStopped += 1
            finishFlow(v, f, end: end)
        } else if !last {
            f.step += 1
            f.attempt = 1
            flows[v] = f
            sendStep(v)
        } else {
            finishFlow(v, f, end: end)
        }
    }

    /// Stores an answer's `Set-Cookie` fields in VU slot `v`'s jar (`path`: the request's, below the base path).
    private func storeCookies(_ v: Int, _ outcome: HTTPOutcome, path: String) {
        guard let fields = outcome.headers?["set-cookie"], !fields.isEmpty, var f = flows[v] else { return }
        let now = Date().timeIntervalSince1970
        for field in fields { f.cookies.store(field, host: target.host, path: target.basePath + path, now: now) }
        flows[v] = f
    }

    /// The jar's cookies for this request, after any `Cookie` the scenario sets itself.
    private func addCookies(_ jar: CookieJar, to request: inout PreparedRequest) {
        let path = target.basePath + request.message.path
        guard
            let cookie = jar.header(
                host: target.host,
                path: path,
                secure: target.isTLS,
                now: Date().timeIntervalSince1970
            )
        else { return }
        if let i = request.message.headers.firstIndex(where: { $0.name.lowercased() == "cookie" }) {
            request.message.headers[i].value += "; " + cookie
        } else {
            request.message.headers.append(("Cookie", cookie))
        }
        request.isConstant = false
    }

    private func finishFlow(_ v: Int, _ f: FlowRun, end: NIODeadline) {
        flows[v] = nil
        metrics.iterations += 1
        metrics.iterationDuration.record(UInt64(max(0, (end - f.intended).nanoseconds / 1000)))
        iterationEnded(v, end: end)
    }

    // One dictionary access each on the hot path: the value is updated in place.
    private static func add(_ corrected: UInt64, _ uncorrected: UInt64, to pair: inout LatencyPair) {
        pair.corrected.record(corrected)
        pair.uncorrected.record(uncorrected)
    }

    /// A request's share of its bucket, for the live stream.
    private static func add(
        _ r: Int,
        status: Int,
        _ corrected: UInt64,
        _ uncorrected: UInt64,
        checks: (passed: Int, failed: Int),
        to stats: inout IntervalStats
    ) {
        stats.byRequest[r, default: RequestInterval()].byStatus[status, default: 0] += 1
        stats.byRequest[r]!.latency.corrected.record(corrected)
        stats.byRequest[r]!.latency.uncorrected.record(uncorrected)
        stats.byRequest[r]!.checksPassed += checks.passed
        stats.byRequest[r]!.checksFailed += checks.failed
    }

    private static func add(_ corrected: UInt64, failed: Bool, vus: Int, to stats: inout IntervalStats) {
        stats.requests += 1
        if failed { stats.errors += 1 }
        stats.latency.record(corrected)
        stats.activeVUs = max(stats.activeVUs, vus)
    }

    // MARK: Collection

    /// Iterations dropped so far (all VUs busy, backlog full).
    func droppedIterations() -> Int { machine.droppedIterations }

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
    func vuCounts() -> (busy: Int, existing: Int) { (machine.inFlight, machine.vus.count) }

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

}
