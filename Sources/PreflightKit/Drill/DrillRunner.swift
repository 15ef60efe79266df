import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PreflightCore
import Synchronization

/// One probe as the drill saw it, for the report's success/failure strip.
public struct ProbeSample: Sendable, Codable, Equatable {
    /// Seconds since the drill started, when the probe was sent.
    public var t: Double
    public var ok: Bool
    public var status: Int?
    public var error: String?
}

/// Everything a drill produced, before it becomes a report.
public struct DrillResult: Sendable {
    public var machine: DrillStateMachine
    public var startedAt: Date
    public var endedAt: Date
    public var probes: [ProbeSample]
    public var actions: [ActionRecord]
    public var canaryLog: [CanaryEntry]
    /// The seqs read back after recovery; nil when the drill has no canary or never got that far.
    public var readBack: [Int]?
    public var firstSeq: Int
    public var background: RunResult?
    public var backgroundPlan: RequestPlan?
    /// Seconds from the drill's start to the background load's start (its time series' zero).
    public var backgroundOffset: Double?
}

/// Drives a drill: runs the probes, the canary writer, the background load and the actions, and feeds what
/// happens to a `DrillStateMachine`, which decides what comes next. Everything runs in one task group; nothing
/// outlives `run`.
public struct DrillRunner: Sendable {
    public var drill: Drill
    /// The run folder: `canary.log` and every action's output go there.
    public var folder: URL
    public var environment: [String: String]
    public var seed: UInt64
    public var logger: Logger
    public var console: Console
    /// `--quiet`: no line per phase (steady state, fault, recovery, rollback); failed actions and the summary still
    /// print.
    public var quiet = false
    /// Where the drill's milestones and its background load's buckets go as they happen (`--stream`,
    /// `--dashboard`); nil when nothing watches live.
    public var live: LiveFeed? = nil

    public init(
        drill: Drill,
        folder: URL,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        seed: UInt64,
        console: Console,
        logger: Logger
    ) {
        self.drill = drill
        self.folder = folder
        self.environment = environment
        self.seed = seed
        self.console = console
        self.logger = logger
    }

    /// The machine's configuration for this drill.
    public var config: DrillStateMachine.Config {
        let verifyWithin: Double? =
            if case .probeFails(let within) = drill.fault.verify { within } else { nil }
        return DrillStateMachine.Config(
            mustHoldFor: drill.steadyState.mustHoldFor,
            steadyTimeout: drill.steadyState.timeout,
            faultAfter: drill.fault.after,
            verifyWithin: verifyWithin,
            consecutiveSuccesses: drill.recovery.consecutiveSuccesses,
            recoveryTimeout: drill.recovery.timeout,
            settle: drill.background == nil ? 0 : drill.slo.window + 2,
            hasRecoveryAction: drill.recovery.action != nil,
            hasCanary: drill.canary != nil,
            hasRollback: drill.rollback != nil
        )
    }

    /// State shared between the driver and its child tasks.
    final class Shared: Sendable {
        let probes = NIOLockedValueBox<[ProbeSample]>([])
        let actions = NIOLockedValueBox<[ActionRecord]>([])
        let readBack = NIOLockedValueBox<[Int]?>(nil)
        let background = NIOLockedValueBox<(result: RunResult?, plan: RequestPlan?, offset: Double?)>((nil, nil, nil))
        let canaryStopped = Atomic<Bool>(false)
        /// Stopped by the canary writer as it exits, after its last answer is logged (the read-back waits for it).
        let canaryWriterDone = RunControl()
        let backgroundControl = RunControl()
        /// Stopped when the drill finishes: ends the prober and wakes the clock's timers and the signal watch.
        let done = RunControl()
    }

    public func run(control: RunControl) async throws -> DrillResult {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let clock = ContinuousClock()
        let origin = clock.now
        let startedAt = Date()
        let now: @Sendable () -> Double = { (clock.now - origin).seconds }
        let shared = Shared()
        let canaryLog = try CanaryLog(url: drill.canary == nil ? nil : folder.appendingPathComponent("canary.log"))
        let firstSeq = Int(startedAt.timeIntervalSince1970 * 1000)
        // `http.version: "auto"`: ALPN decides once, before the first probe (the target is up then, by the
        // drill's steady-state hypothesis); the background load speaks the same.
        let (transports, negotiation) = await TransportFactory(target: drill.target.baseURL, http: drill.http)
            .negotiated()
        if let negotiation { logger.info("negotiated", metadata: ["drill.http": "\(negotiation)"]) }
        var backgroundScenario = drill.background
        if let background = backgroundScenario {
            backgroundScenario = await TransportFactory.negotiated(background).scenario
        }
        let probeClient = try transports.oneShot(
            headers: drill.target.headers,
            connectTimeout: drill.steadyState.probe.timeout
        )
        let canaryClient = try transports.oneShot(headers: drill.target.headers, connectTimeout: 2)
        var env = environment
        env["PREFLIGHT_DRILL_DIR"] = folder.path
        env["PREFLIGHT_TARGET"] = env["PREFLIGHT_TARGET"] ?? drill.target.baseURL.description
        let actions = ActionRunner(folder: folder, environment: env)
        var machine = DrillStateMachine(config: config)
        let (events, sink) = AsyncStream.makeStream(of: DrillStateMachine.Input.self)
        // Every probe's outcome, newest only, for the canary read-back: it retries when the target answers again.
        let (probeOutcomes, probeSink) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
        let drill = self.drill
        let console = self.console
        let logger = self.logger
        let seed = self.seed
        let quiet = self.quiet
        let live = self.live
        let phase: @Sendable (String) -> Void = { line in if !quiet { console.err(line) } }

        phase(
            "drill \(drill.name): waiting for the steady state (\(drill.steadyState.probe.method) "
                + "\(drill.steadyState.probe.path) must pass for \(DurationText.format(seconds: drill.steadyState.mustHoldFor)))"
        )
        await withTaskGroup(of: Void.self) { group in
            // The prober: one request every interval on a fresh connection, until the drill is finished.
            group.addTask {
                let probe = drill.steadyState.probe
                while !shared.done.isStopping {
                    let t = now()
                    let outcome = await probeClient.send(
                        method: probe.method,
                        path: probe.path,
                        headers: probe.headers,
                        timeout: probe.timeout
                    )
                    let ok = outcome.error == nil && probe.expectStatus.contains(outcome.status)
                    shared.probes.withLockedValue {
                        $0.append(
                            ProbeSample(
                                t: t,
                                ok: ok,
                                status: outcome.status == 0 ? nil : outcome.status,
                                error: outcome.error?.name
                            )
                        )
                    }
                    sink.yield(.probe(ok: ok, at: t))
                    probeSink.yield(ok)
                    // Pacing, not polling: the probe's own schedule, one request every interval; the drill's end
                    // wakes it at once.
                    await shared.done.wait(for: .stopping, until: origin + .seconds(t + drill.steadyState.interval))
                }
                probeSink.finish()
                logger.debug("drill prober stopped")
            }
            // The signal, delivered the moment it arrives (or nothing, once the drill is over).
            group.addTask {
                await withTaskGroup(of: Void.self) { race in
                    race.addTask {
                        if await control.wait(for: .interrupted) { sink.yield(.interrupted(at: now())) }
                    }
                    race.addTask { await shared.done.wait(for: .stopping) }
                    await race.next()
                    race.cancelAll()
                }
                logger.debug("drill signal watch stopped")
            }
            // The clock: a tick at each deadline the machine names (`nextDeadline`), not on a fixed period. A
            // deadline that passes after the phase moved on gives a tick that changes nothing.
            var scheduled: Set<Double> = []
            func tick(_ deadline: Double) {
                guard scheduled.insert(deadline).inserted else { return }
                group.addTask {
                    let at = origin + .seconds(deadline)
                    // Past the deadline on the drill's own clock, or done.
                    while now() < deadline {
                        if await shared.done.wait(for: .stopping, until: at) { return }
                    }
                    sink.yield(.tick(at: now()))
                }
            }
            if let deadline = machine.nextDeadline { tick(deadline) }
            var sentMilestones: Set<DrillSection.Milestone> = []
            for await input in events {
                let outputs = machine.handle(input)
                if let live {
                    // Each milestone once, as it is reached (`recovered` carries the time its streak began).
                    for (name, t) in machine.timeline.milestones where sentMilestones.insert(name).inserted {
                        live.send(
                            .milestone(
                                LiveMilestone(
                                    name: name.rawValue,
                                    t: t,
                                    time: startedAt.timeIntervalSince1970 + t
                                )
                            )
                        )
                    }
                }
                if let deadline = machine.nextDeadline { tick(deadline) }
                for output in outputs {
                    switch output {
                    case .startBackground:
                        phase(
                            "steady state held; background load and canary running, fault in "
                                + DurationText.format(seconds: drill.fault.after)
                        )
                        if let background = backgroundScenario {
                            group.addTask {
                                await Self.runBackground(
                                    background,
                                    shared: shared,
                                    now: now,
                                    seed: seed,
                                    live: live,
                                    logger: logger
                                )
                                logger.debug("drill background stopped")
                            }
                        }
                        if let canary = drill.canary {
                            group.addTask {
                                await Self.writeCanary(
                                    canary,
                                    client: canaryClient,
                                    log: canaryLog,
                                    firstSeq: firstSeq,
                                    shared: shared,
                                    now: now
                                )
                                shared.canaryWriterDone.stop()
                                logger.debug("drill canary writer stopped")
                            }
                        }
                    case .runAction(let kind):
                        guard let action = Self.action(kind, of: drill) else {
                            sink.yield(.actionFinished(kind, succeeded: true, at: now()))
                            continue
                        }
                        phase("\(kind.rawValue): \(action.argv.joined(separator: " "))")
                        let started = now()
                        group.addTask {
                            let record = await actions.run(kind, action, startedAt: started)
                            shared.actions.withLockedValue { $0.append(record) }
                            if !record.succeeded {
                                console.err(
                                    "\(kind.rawValue) action "
                                        + (record.timedOut
                                            ? "timed out" : record.error ?? "exited \(record.exitStatus ?? -1)")
                                        + " (output in \(record.stderrFile))"
                                )
                            }
                            sink.yield(.actionFinished(kind, succeeded: record.succeeded, at: now()))
                        }
                    case .stopBackground:
                        shared.canaryStopped.store(true, ordering: .relaxed)
                        shared.backgroundControl.stop()
                    case .readCanary:
                        guard let canary = drill.canary else { continue }
                        // After a recovery timeout the service is down: one attempt, not `readTimeout` of retries.
                        let once = machine.neverRecovered
                        group.addTask {
                            // The read-back waits for the write in flight: acknowledged after a read already sent,
                            // it would be counted as lost (found as 1 lost write against the reference API).
                            await shared.canaryWriterDone.wait(for: .stopping, until: .now + .seconds(10))
                            let seqs = await Self.readCanary(
                                canary,
                                client: canaryClient,
                                firstSeq: firstSeq,
                                once: once,
                                probes: probeOutcomes
                            )
                            shared.readBack.withLockedValue { $0 = seqs }
                            sink.yield(.canaryRead(ok: seqs != nil, at: now()))
                        }
                    case .finish:
                        shared.done.stop()
                        shared.canaryStopped.store(true, ordering: .relaxed)
                        shared.backgroundControl.stop()
                        sink.finish()
                    }
                }
            }
        }
        logger.debug("drill tasks done")
        canaryLog.close()
        let bg = shared.background.withLockedValue { $0 }
        return DrillResult(
            machine: machine,
            startedAt: startedAt,
            endedAt: Date(),
            probes: shared.probes.withLockedValue { $0 },
            actions: shared.actions.withLockedValue { $0 },
            canaryLog: canaryLog.all,
            readBack: shared.readBack.withLockedValue { $0 },
            firstSeq: firstSeq,
            background: bg.result,
            backgroundPlan: bg.plan,
            backgroundOffset: bg.offset
        )
    }

    static func action(_ kind: DrillStateMachine.ActionKind, of drill: Drill) -> Drill.Action? {
        switch kind {
        case .fault: drill.fault.action
        case .verify: if case .command(let a) = drill.fault.verify { a } else { nil }
        case .recovery: drill.recovery.action
        case .rollback: drill.rollback
        }
    }

    static func runBackground(
        _ scenario: Scenario,
        shared: Shared,
        now: @escaping @Sendable () -> Double,
        seed: UInt64,
        live: LiveFeed?,
        logger: Logger
    ) async {
        do {
            let transport = try TransportFactory(scenario: scenario).real()
            var options = RunOptions(seed: seed)
            options.live = live
            let runner = LoadRunner(
                scenario: scenario,
                transport: transport,
                options: options,
                logger: logger
            )
            let offset = now()
            let result = try await runner.run(control: shared.backgroundControl)
            shared.background.withLockedValue { $0 = (result, runner.plan, offset) }
        } catch {
            logger.error("background load failed", metadata: ["error": "\(error)"])
        }
    }

    /// Writes `{{seq}}` every interval, one write at a time, logging each answer before the next write.
    static func writeCanary(
        _ canary: Drill.Canary,
        client: OneShotHTTP,
        log: CanaryLog,
        firstSeq: Int,
        shared: Shared,
        now: @escaping @Sendable () -> Double
    ) async {
        var seq = firstSeq
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        while !shared.canaryStopped.load(ordering: .relaxed) {
            let sent = now()
            let values: (String) -> RequestPlan.Value = { name in
                switch name {
                case "seq": (String(seq), .number)
                case "firstSeq": (String(firstSeq), .number)
                default: (iso.string(from: Date()), .string)
                }
            }
            let outcome = await client.send(
                method: canary.write.method,
                path: canary.write.path.render { values($0).text },
                headers: canary.write.headers.map { ($0.name, $0.value.render { values($0).text }) },
                body: canary.write.body.map { RequestPlan.render($0, value: values) },
                timeout: max(1, canary.interval * 5)
            )
            log.append(
                CanaryEntry(seq: seq, sent: sent, answered: now(), status: outcome.status, error: outcome.error?.name)
            )
            seq += 1
            // Pacing: one write every `canary.interval`.
            let wait = sent + canary.interval - now()
            if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
        }
    }

    /// Reads the series back: at once, then again after each passing probe (the prober's own schedule, so a target
    /// that is down is not asked in between), until it answers 2xx with the items or `readTimeout` passes (`once`:
    /// a single attempt).
    static func readCanary(
        _ canary: Drill.Canary,
        client: OneShotHTTP,
        firstSeq: Int,
        once: Bool = false,
        probes: AsyncStream<Bool>
    ) async -> [Int]? {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(canary.readTimeout)
        let path = canary.read.path.render { $0 == "now" ? "" : String(firstSeq) }
        func attempt() async -> [Int]? {
            let outcome = await client.send(
                method: canary.read.method,
                path: path,
                headers: canary.read.headers.map { ($0.name, $0.value.render { _ in String(firstSeq) }) },
                timeout: 10,
                wantsBody: true
            )
            if outcome.error == nil, (200..<300).contains(outcome.status), !outcome.bodyTruncated,
                let body = outcome.body, let seqs = seqs(in: body, canary: canary)
            {
                return seqs
            }
            return nil
        }
        if let seqs = await attempt() { return seqs }
        if once { return nil }
        for await passed in probes {
            if clock.now >= deadline { return nil }
            if passed, let seqs = await attempt() { return seqs }
        }
        return nil
    }

    /// The seqs of a read answer: the items at `canary.items`, each an object with `seqField` or a bare number.
    static func seqs(in body: [UInt8], canary: Drill.Canary) -> [Int]? {
        guard let doc = try? JSONValue.parse(Data(body)),
            case .array(let items)? = canary.items.evaluate(doc)
        else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            let value: JSONValue? =
                if case .number = item { item } else { item[canary.seqField] }
            guard case .number(let n)? = value, n.rounded() == n, abs(n) < 1e15 else { return nil }
            out.append(Int(n))
        }
        return out
    }
}
