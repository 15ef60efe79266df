import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import PreflightCore

/// Options of one run that do not come from the scenario file.
public struct RunOptions: Sendable {
    /// Seeds every random choice (data order, think times, mock latencies).
    public var seed: UInt64
    /// Event loops (threads) driving the load; each owns a share of the VUs. Default: one per core.
    public var eventLoops: Int
    /// Called about once a second with the progress so far.
    public var progress: (@Sendable (Progress) -> Void)?
    /// The slice of the run this process drives (`--segment`); the whole run by default.
    public var segment: ExecutionSegment
    /// Scrapes the target's Prometheus endpoint during the measured phase (`target.metrics`), when set.
    public var scraper: ServerScraper? = nil
    /// Where each time bucket goes as it completes (`--stream`, `--dashboard`); nil when nothing watches live.
    public var live: LiveFeed? = nil

    public init(
        seed: UInt64,
        eventLoops: Int = System.coreCount,
        segment: ExecutionSegment = .whole,
        progress: (@Sendable (Progress) -> Void)? = nil
    ) {
        self.seed = seed
        self.eventLoops = max(1, eventLoops)
        self.segment = segment
        self.progress = progress
    }
}

/// A live view of a run, for progress lines.
public struct Progress: Sendable {
    public var elapsed: Double
    public var planned: Double
    public var requests: Int
    public var errors: Int
    public var lastSecondRate: Double
    public var lastSecondP95Ms: Double?
    public var activeVUs: Int
}

/// One point of the report's time series.
public struct TimePoint: Sendable, Codable, Equatable {
    /// Seconds since the start, at the end of the bucket.
    public var t: Double
    public var requests: Int
    public var errors: Int
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?
    public var vus: Int
}

/// Everything a run produced, before it becomes a report.
public struct RunResult: Sendable {
    public var metrics: RunMetrics
    public var timeseries: [TimePoint]
    public var bucketSeconds: Double
    public var startedAt: Date
    public var endedAt: Date
    /// Seconds from the start of the measured phase to the end of the run.
    public var durationSeconds: Double
    public var interrupted: Bool
    public var aborted: Bool
    public var dataExhausted: Bool
    /// Things the harness itself got in the way of (saturated CPU, exhausted VUs, late dispatches).
    public var warnings: [String]
    public var eventLoops: Int
    public var cpuSeconds: Double
    /// How late scheduled starts (arrivals, think-time wake-ups) were handled, µs.
    public var dispatchLateness: LatencyHistogram
    /// Whether the harness, not the target, limited the run, and why.
    public var harness: HarnessLoad
    /// The slice of the run this was (`--segment`).
    public var segment: ExecutionSegment = .whole
    /// The target's `/metrics` as scraped during the run (`target.metrics`), the first just before the start.
    public var serverScrapes: [ServerScrape]? = nil
    /// A capacity search's answer and every step (SPEC §16), when the run was one.
    public var capacity: CapacitySection? = nil
    /// Stairs: each stair's metrics, for `merge` to add up and judge again.
    public var capacityStairs: [CapacityStairMetrics]? = nil
}

/// How hard the harness itself worked during a run, and whether it was the bottleneck.
public struct HarnessLoad: Sendable, Equatable, Codable {
    /// Dispatch lateness p99 above this means the harness could not start iterations on time.
    public static let latenessLimitMs = 10.0
    /// CPU use above this share of all cores means the harness may be what limited the rate.
    public static let cpuLimit = 0.9

    public var cpuSeconds: Double
    public var cores: Int
    /// CPU seconds per second of run, over all cores: 1 means every core was busy.
    public var cpuUtilization: Double
    /// Scheduled starts measured for lateness (0 for closed models without think time).
    public var scheduledStarts: Int
    public var dispatchLatenessP99Ms: Double?
    public var dispatchLatenessMaxMs: Double?
    /// True when the harness, not the target, was the bottleneck; `reasons` says why.
    public var saturated: Bool
    /// Why the harness was the bottleneck; empty when it was not.
    public var reasons: [String]

    /// Judges a run of `duration` seconds that used `cpuSeconds` on `cores` cores, with `lateness` in µs.
    public init(cpuSeconds: Double, cores: Int, duration: Double, lateness: LatencyHistogram) {
        self.cpuSeconds = cpuSeconds
        self.cores = cores
        cpuUtilization = duration > 0 ? cpuSeconds / duration / Double(max(1, cores)) : 0
        scheduledStarts = Int(lateness.totalCount)
        let measured = lateness.totalCount > 0
        dispatchLatenessP99Ms = measured ? Double(lateness.valueAtPercentile(99)) / 1000 : nil
        dispatchLatenessMaxMs = measured ? Double(lateness.max) / 1000 : nil
        reasons = []
        if let p99 = dispatchLatenessP99Ms, p99 > Self.latenessLimitMs {
            reasons.append(
                String(
                    format: "dispatch lateness p99 %.1f ms (> %.0f ms): iterations started late",
                    p99,
                    Self.latenessLimitMs
                )
            )
        }
        // A very short run's CPU share is mostly start-up, not load.
        if duration > 1, cpuUtilization > Self.cpuLimit {
            reasons.append(String(format: "CPU %.0f%% of %d cores", 100 * cpuUtilization, cores))
        }
        saturated = !reasons.isEmpty
    }
}

/// Drives a scenario's load over a transport and collects its metrics.
public struct LoadRunner: Sendable {
    public var scenario: Scenario
    public var plan: RequestPlan
    public var transport: any Transport
    public var options: RunOptions
    public var logger: Logger

    public init(scenario: Scenario, transport: any Transport, options: RunOptions, logger: Logger) {
        self.scenario = scenario
        self.plan = RequestPlan(scenario: scenario, seed: options.seed)
        self.transport = transport
        self.options = options
        self.logger = logger
    }

    /// The width of a time-series bucket: 1 s, coarser so that the longest possible run fits in 600 points.
    public static func bucketSeconds(for load: LoadSettings) -> Double {
        let longest = load.issuingSeconds + load.gracefulStop
        return max(1, (longest / 600).rounded(.up))
    }

    /// Runs warm-up and the measured phase; stops early when `control` says so. The run's event loops are its own
    /// and are shut down, awaited, before it returns: no thread or connection outlives the run.
    public func run(control: RunControl) async throws -> RunResult {
        if let search = scenario.load.executor.capacitySearch {
            return try await runCapacitySearch(search, control: control)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.eventLoops)
        let result: RunResult
        do {
            result = try await run(on: group, control: control)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        return result
    }

    private func run(on group: MultiThreadedEventLoopGroup, control: RunControl) async throws -> RunResult {
        let load = scenario.load
        let loops = Array(group.makeIterator())
        let bucketSeconds = Self.bucketSeconds(for: load)
        let cpuBefore = Self.cpuSeconds()

        if let warmup = scenario.warmup, warmup.requests > 0 {
            let warmupShard = makeShard(0, count: 1, loop: loops[0], control: control, bucket: bucketSeconds)
            logger.info("warm-up", metadata: ["warmup.requests": "\(warmup.requests)"])
            await warmupShard.warmup(requests: warmup.requests, segment: options.segment)
            await warmupShard.abandonAll()
        }
        let shards = loops.enumerated().map { i, loop in
            let (index, count) = options.segment.shard(loop: i, loops: loops.count)
            return makeShard(index, count: count, loop: loop, control: control, bucket: bucketSeconds)
        }
        await withTaskGroup(of: Void.self) { connecting in
            for shard in shards { connecting.addTask { await shard.preconnect() } }
        }
        // The server's counters before the first measured request: warm-up and the probe are behind them.
        await options.scraper?.scrape(at: 0)
        // The common start: after warm-up and connection set-up, so neither is measured.
        let start = NIODeadline.now() + .milliseconds(20)
        let startedAt = Date()
        let collector = Collector(
            shards: shards,
            start: start,
            bucketSeconds: bucketSeconds,
            live: options.live.map { (feed: $0, names: plan.requestNames, startTime: startedAt.timeIntervalSince1970) }
        )

        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                await withTaskGroup(of: Void.self) { runs in
                    for shard in shards { runs.addTask { await shard.run(start: start) } }
                }
            }
            tasks.addTask { await self.watchdog(shards: shards, control: control, start: start) }
            tasks.addTask { await self.collectLive(collector, control: control) }
            if let scraper = options.scraper { tasks.addTask { await scraper.run(start: start) } }
            await tasks.next()  // the shards finished
            tasks.cancelAll()
        }
        let end = NIODeadline.now()
        // The counters once every measured request has been answered.
        await options.scraper?.scrape(at: Double((end - start).nanoseconds) / 1e9)
        let endedAt = Date()
        var metrics = RunMetrics(checkCounts: plan.checkLabels.map(\.count))
        var lateness = LatencyHistogram.latency()
        for shard in shards {
            metrics.add(await shard.snapshot())
            lateness.add(await shard.dispatchLateness)
        }
        var timeseries = await collector.finish()
        let duration = Double((end - start).nanoseconds) / 1e9
        // The last bucket ends with the run, not on its boundary; rates over it use its real width.
        if let last = timeseries.indices.last, timeseries[last].t > duration {
            timeseries[last].t = max(duration, timeseries[last].t - bucketSeconds + 0.001)
        }
        let cpu = Self.cpuSeconds() - cpuBefore
        var warnings: [String] = []
        if metrics.droppedIterations > 0 {
            warnings.append(
                "\(metrics.droppedIterations) iterations were dropped: all \(load.maxVUs) VUs were busy and the backlog of \(load.maxBacklog) was full; raise maxVUs or maxBacklog, or the target is slower than the rate"
            )
        }
        // Only when an arrival really waited: every VU of its event loop was busy when it came due (a VU busy at
        // the moment of the next arrival is not enough, and VUs in use at once say nothing about waiting).
        if load.executor.isOpenModel, metrics.backloggedIterations > 0 {
            let n = metrics.backloggedIterations
            warnings.append(
                "\(n) \(n == 1 ? "iteration" : "iterations") waited in the backlog for a free VU (all \(load.maxVUs) VUs were busy): sent late, measured from the intended start; raise maxVUs if the target is meant to keep up"
            )
        }
        if metrics.abandonedIterations > 0 {
            let when =
                control.isHurried
                ? "at the second signal (which does not wait for gracefulStop)"
                : "when gracefulStop (\(DurationText.format(seconds: load.gracefulStop))) ran out"
            warnings.append(
                "\(metrics.abandonedIterations) iterations were still in flight \(when); they were abandoned and count as error `aborted` in http_req_failed, with the latency they had reached"
            )
        }
        let harness = HarnessLoad(cpuSeconds: cpu, cores: System.coreCount, duration: duration, lateness: lateness)
        if harness.saturated {
            warnings.append(
                "the harness itself was the bottleneck (\(harness.reasons.joined(separator: "; "))): figures may describe it rather than the target; use fewer VUs, more cores, or split the run"
            )
        }
        if let refusal = (transport as? HTTP2Transport)?.alpnRefusal {
            warnings.append(HTTP2Transport.alpnMessage(refusal))
        }
        if metrics.requests.contains(where: { $0.truncatedBodies > 0 }) {
            warnings.append(
                "some response bodies were longer than http.maxBodyBytes (\(scenario.http.maxBodyBytes)); checks saw them truncated"
            )
        }
        return RunResult(
            metrics: metrics,
            timeseries: timeseries,
            bucketSeconds: bucketSeconds,
            startedAt: startedAt,
            endedAt: endedAt,
            durationSeconds: duration,
            interrupted: control.isInterrupted,
            aborted: control.isAborted,
            dataExhausted: control.isDataExhausted,
            warnings: warnings,
            eventLoops: loops.count,
            cpuSeconds: cpu,
            dispatchLateness: lateness,
            harness: harness,
            segment: options.segment,
            serverScrapes: options.scraper?.scrapes
        )
    }

    private func makeShard(
        _ i: Int,
        count: Int,
        loop: any EventLoop,
        control: RunControl,
        bucket: Double
    ) -> LoadShard {
        LoadShard(
            index: i,
            count: count,
            eventLoop: loop,
            plan: plan,
            target: scenario.target.baseURL,
            load: scenario.load,
            transport: transport,
            control: control,
            bucketSeconds: bucket,
            liveDetail: options.live != nil
        )
    }

    /// Gives in-flight requests `gracefulStop` once issuing ends, then abandons them.
    private func watchdog(shards: [LoadShard], control: RunControl, start: NIODeadline) async {
        let issueEnd =
            ContinuousClock.now + .nanoseconds((start - NIODeadline.now()).nanoseconds)
            + .seconds(scenario.load.issuingSeconds)
        await control.wait(for: .stopping, until: issueEnd)
        guard !Task.isCancelled else { return }
        // A stop (SIGINT, abort, data exhausted) reaches shards that have no response to notice it on.
        if control.isStopping {
            for shard in shards { await shard.stop() }
        }
        await control.wait(for: .hurried, until: .now + .seconds(scenario.load.gracefulStop))
        guard !Task.isCancelled else { return }
        logger.notice(
            control.isHurried
                ? "second signal; abandoning requests still in flight"
                : "gracefulStop elapsed; abandoning requests still in flight"
        )
        for shard in shards { await shard.abandonAll() }
    }

    /// Once a second: gathers finished buckets, reports progress, evaluates abort thresholds.
    private func collectLive(_ collector: Collector, control: RunControl) async {
        let abortable = scenario.thresholds.filter(\.abortOnFail)
        var tick: Int64 = 1
        while true {
            // Wake just after each second boundary of the run, so the bucket that just ended is complete.
            let wake = collector.start + .nanoseconds(tick * 1_000_000_000 + 100_000_000)
            tick += 1
            let wait = max(0, (wake - NIODeadline.now()).nanoseconds)
            guard (try? await Task.sleep(for: .nanoseconds(wait))) != nil else { return }
            let progress = await collector.collect(planned: scenario.load.issuingSeconds)
            options.progress?(progress)
            // The thresholds are judged on the run so far for abortOnFail, and for whatever watches live.
            let judging = !abortable.isEmpty && !control.isStopping
            guard judging || options.live != nil else { continue }
            var metrics = RunMetrics(checkCounts: plan.checkLabels.map(\.count))
            for shard in collector.shards { metrics.add(await shard.snapshot()) }
            let observed = MetricValues(
                metrics: metrics,
                requestNames: plan.requestNames,
                durationSeconds: progress.elapsed
            )
            options.live?.send(
                .standing(
                    scenario.thresholds.map { t in
                        let value = observed.value(for: t)
                        return LiveThreshold(
                            name: "\(t.metric): \(t.expression)",
                            ok: value.map { t.op.holds($0, t.bound) } ?? false,
                            observed: value
                        )
                    }
                )
            )
            guard judging else { continue }
            for t in abortable where progress.elapsed >= t.delayAbortEval {
                if let v = observed.value(for: t), !t.op.holds(v, t.bound) {
                    logger.warning(
                        "threshold crossed; aborting",
                        metadata: ["threshold": "\(t.metric) \(t.expression)"]
                    )
                    control.abort()
                    break
                }
            }
        }
    }

    /// Process CPU time (user + system) in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }
}

/// Merges the shards' time buckets into the time series as buckets complete.
actor Collector {
    let shards: [LoadShard]
    let start: NIODeadline
    let bucketSeconds: Double
    private var buckets: [Int: IntervalStats] = [:]
    private var totalRequests = 0
    private var totalErrors = 0
    /// Where completed buckets go, with the request names and the start on the wall clock.
    let live: (feed: LiveFeed, names: [String], startTime: Double)?
    /// Buckets before this one have been sent live.
    private var nextLive = 0
    private var droppedSent = 0

    init(
        shards: [LoadShard],
        start: NIODeadline,
        bucketSeconds: Double,
        live: (feed: LiveFeed, names: [String], startTime: Double)? = nil
    ) {
        self.shards = shards
        self.start = start
        self.bucketSeconds = bucketSeconds
        self.live = live
    }

    /// Sends the buckets before `end` that are not sent yet: complete, since every shard handed them over. The run's
    /// last bucket (`final`: the seconds the run took) ends with the run, not on its boundary, as in the report: its
    /// time is never in the future (a Prometheus queried at once would not see it) and its rates use its real width.
    private func sendLive(before end: Int, final elapsed: Double? = nil) async {
        guard let live, end > nextLive else { return }
        var dropped = 0
        for shard in shards { dropped += await shard.droppedIterations() }
        for k in nextLive..<end {
            var bucket = LiveBucket(
                index: k,
                bucketSeconds: bucketSeconds,
                startTime: live.startTime,
                stats: buckets[k] ?? IntervalStats(),
                names: live.names,
                droppedIterations: k == end - 1 ? dropped - droppedSent : 0
            )
            if let elapsed, k == end - 1, bucket.t > elapsed {
                bucket.t = max(elapsed, bucket.t - bucketSeconds + 0.001)
                bucket.seconds = bucket.t - Double(k) * bucketSeconds
                bucket.time = live.startTime + bucket.t
            }
            live.feed.send(.bucket(bucket))
        }
        droppedSent = dropped
        nextLive = end
    }

    func collect(planned: Double) async -> Progress {
        let elapsed = Double((NIODeadline.now() - start).nanoseconds) / 1e9
        let current = Int(elapsed / bucketSeconds)
        var newest: IntervalStats?
        var newestIndex = -1
        var active = 0
        for shard in shards {
            for (k, v) in await shard.drainIntervals(before: current) { absorb(k, v) }
            active += await shard.vuCounts().busy
        }
        for (k, v) in buckets where k > newestIndex {
            newestIndex = k
            newest = v
        }
        await sendLive(before: current)
        return Progress(
            elapsed: elapsed,
            planned: planned,
            requests: totalRequests,
            errors: totalErrors,
            lastSecondRate: Double(newest?.requests ?? 0) / bucketSeconds,
            lastSecondP95Ms: newest.flatMap { $0.requests > 0 ? Double($0.latency.valueAtPercentile(95)) / 1000 : nil },
            // The most VUs busy in the last full second, as the report's time series counts them; the instant's
            // count alone read 0 for a VU that was thinking or between fast requests.
            activeVUs: max(active, newest?.activeVUs ?? 0)
        )
    }

    private func absorb(_ k: Int, _ v: IntervalStats) {
        buckets[k, default: IntervalStats()].add(v)
        totalRequests += v.requests
        totalErrors += v.errors
    }

    /// Drains what is left and returns the series, one point per bucket, gaps filled with zeros.
    func finish() async -> [TimePoint] {
        for shard in shards {
            for (k, v) in await shard.drainIntervals(before: nil) { absorb(k, v) }
        }
        guard let last = buckets.keys.max() else { return [] }
        await sendLive(before: last + 1, final: Double((NIODeadline.now() - start).nanoseconds) / 1e9)
        return (0...last).map { k in
            let b = buckets[k] ?? IntervalStats()
            let ms: (Double) -> Double? = { p in b.requests > 0 ? Double(b.latency.valueAtPercentile(p)) / 1000 : nil }
            return TimePoint(
                t: Double(k + 1) * bucketSeconds,
                requests: b.requests,
                errors: b.errors,
                p50: ms(50),
                p95: ms(95),
                p99: ms(99),
                vus: b.activeVUs
            )
        }
    }
}
