import Foundation
import PreflightCore

extension Report {
    /// The report of a drill: the background load's report, with the drill's section and its objectives as
    /// `drill_*` thresholds, and the verdict the drill calls for.
    public static func build(drill: Drill, result: DrillResult, seed: UInt64) -> Report {
        let m = result.machine
        let timeline = m.timeline
        let canary = result.readBack.map {
            CanarySummary.analyze(log: result.canaryLog, readBack: $0, faultAt: timeline.faultStarted)
        }
        var slo: Double?
        if let bg = result.background, let offset = result.backgroundOffset, let fs = timeline.faultStarted,
            let fc = timeline.faultCompleted, timeline.recovered != nil
        {
            slo = Drill.sloRecovered(
                timeseries: bg.timeseries,
                bucketSeconds: bg.bucketSeconds,
                offset: offset,
                faultStarted: fs,
                faultCompleted: fc,
                slo: drill.slo
            )
        }
        // Durations are differences of clock readings: rounded to the microsecond, so report.json says 0.484301,
        // not 0.4843007730000002 (the clocks are read to the nanosecond, the probes are 100 ms apart at best).
        let micro = DrillSection.microseconds
        let observed: (Drill.Objective.Kind) -> Double? = { kind in
            switch kind {
            case .rto: micro(m.rto)
            case .detection: micro(m.detection)
            case .rpo: micro(canary?.rpoSeconds)
            case .lostWrites: canary.map { Double($0.lostWrites) }
            case .sloRecovered: micro(slo)
            }
        }
        // Detection is the first failed probe. When the fault was verified by a command and no probe ever failed
        // (a load balancer moved traffic to a survivor, a self-healing target), there was nothing to detect.
        let detectionNotApplicable: String? =
            if case .command = drill.fault.verify, timeline.firstFailedProbe == nil, timeline.verified != nil {
                "no probe failed: the fault was verified by its verify command and the target kept answering, so "
                    + "detection does not apply"
            } else { nil }
        let rpoNotMeasured: String? =
            if drill.canary == nil {
                "no canary block"
            } else if m.canaryUnreadable {
                m.neverRecovered
                    ? "the service never recovered, so the canary series could not be read back"
                    : "the canary series could not be read back after recovery"
            } else if canary == nil {
                "the drill ended before the canary series was read back"
            } else { nil }
        let objectives = drill.objectives.map { o -> ThresholdResult in
            if o.kind == .detection, let why = detectionNotApplicable {
                return .skipped(metric: o.kind.metric, expression: o.expression, why: why)
            }
            let raw = observed(o.kind)
            return ThresholdResult(
                metric: o.kind.metric,
                expression: o.expression,
                observed: raw.map { o.kind.isDuration ? ($0 * 1_000_000).rounded() / 1000 : $0 },
                ok: raw.map { o.op.holds($0, o.bound) } ?? false
            )
        }
        let ending: DrillSection.Ending
        var invalidReason: String?
        switch m.ending {
        case .invalid(let why):
            ending = .invalid
            invalidReason = why
        case .interrupted: ending = .interrupted
        case .completed, nil: ending = .completed
        }
        let events: [(DrillSection.Milestone, Double?)] =
            timeline.milestones.map { ($0, $1) }
            + [(.sloRecovered, slo.flatMap { s in timeline.faultCompleted.map { $0 + s } })]
        let section = DrillSection(
            ending: ending,
            invalidReason: invalidReason,
            rtoSeconds: micro(m.rto),
            rtoResolutionSeconds: drill.steadyState.interval,
            detectionSeconds: micro(m.detection),
            timeToFirstSuccessSeconds: micro(m.timeToFirstSuccess),
            sloRecoveredSeconds: micro(slo),
            rpoSeconds: micro(canary?.rpoSeconds),
            lostWrites: canary?.lostWrites,
            acknowledgedWrites: canary?.acknowledged
                ?? (drill.canary == nil ? nil : result.canaryLog.filter(\.acknowledged).count),
            rpoMeasured: canary != nil,
            rpoNotMeasured: rpoNotMeasured,
            timeline: events.compactMap { name, t in
                t.map {
                    DrillSection.Event(event: name, t: micro($0) ?? $0, at: result.startedAt.addingTimeInterval($0))
                }
            }.sorted { $0.t < $1.t },
            probes: DrillSection.ProbeStats(
                intervalSeconds: drill.steadyState.interval,
                passed: m.probesPassed,
                failed: m.probesFailed,
                samples: result.probes.map { p in
                    var p = p
                    p.t = micro(p.t) ?? p.t
                    return p
                }
            ),
            canary: canary,
            actions: result.actions.sorted { $0.startedAt < $1.startedAt }.map { a in
                var a = a
                a.startedAt = micro(a.startedAt) ?? a.startedAt
                a.durationSeconds = micro(a.durationSeconds) ?? a.durationSeconds
                return a
            },
            objectives: objectives,
            backgroundOffsetSeconds: micro(result.backgroundOffset)
        )

        var report: Report
        if let bg = result.background, let plan = result.backgroundPlan, let scenario = drill.background {
            report = Report.build(
                scenario: scenario,
                plan: plan,
                result: bg,
                transport: TransportDecision(mode: .real, reason: "drills always test the real target"),
                seed: seed
            )
        } else {
            report = Report.empty(drill: drill, seed: seed)
        }
        report.scenario = ScenarioInfo(
            name: drill.name,
            description: drill.description,
            file: drill.file,
            sha256: drill.sha256
        )
        report.run.startedAt = result.startedAt
        report.run.endedAt = result.endedAt
        report.run.durationSeconds = result.endedAt.timeIntervalSince(result.startedAt)
        report.run.interrupted = m.ending == .interrupted
        report.drill = section
        report.thresholds += objectives
        if drill.canary == nil {
            report.warnings.append("no canary block: RPO and lost writes were not measured, only RTO")
        } else if m.canaryUnreadable, let rpoNotMeasured {
            report.warnings.append("RPO and lost writes were not measured: \(rpoNotMeasured)")
        }
        for a in result.actions where !a.succeeded {
            report.warnings.append(
                "the \(a.kind.rawValue) action "
                    + (a.timedOut ? "timed out" : a.error ?? "exited \(a.exitStatus.map(String.init) ?? "?")")
                    + "; its output is in \(a.stderrFile)"
            )
        }
        let failed = report.thresholds.filter { !$0.ok }
        let all = report.thresholds
        (report.verdict, report.verdictReason) = VerdictRule(
            inconclusive: [
                m.ending == .interrupted ? "interrupted; the rollback ran and the report is partial" : nil,
                invalidReason.map { "invalid drill: \($0)" },
            ],
            failures: [
                // The worst outcome of a recovery drill fails it, whatever objectives were declared.
                m.neverRecovered
                    ? "the service did not recover within \(DurationText.format(seconds: drill.recovery.timeout)) "
                        + "(recovery.timeout)"
                        + (drill.canary == nil
                            ? "" : "; RPO and lost writes not measured: \(rpoNotMeasured ?? "no read-back")")
                    : nil,
                failed.first.map { first in
                    "\(failed.count) of \(all.count) objectives and thresholds failed, first \(first.metric) "
                        + "\(first.expression) (observed \(HumanFormat.observed(first)))"
                },
            ],
            thresholds: all
        ).decide {
            "recovered in \(HumanFormat.ms(m.rto.map { $0 * 1000 }))"
                + (canary.map { ", \($0.lostWrites) of \($0.acknowledged) acknowledged writes lost" } ?? "")
                + "; every objective met"
                + (all.first { $0.skipped != nil }.map { "; \($0.metric) skipped: \($0.skipped ?? "")" } ?? "")
        }
        return report
    }

    /// A report with no load metrics (a drill without background load, or whose load never started).
    static func empty(drill: Drill, seed: UInt64) -> Report {
        Report(
            tool: Tool(name: PreflightInfo.name, version: PreflightInfo.version),
            scenario: ScenarioInfo(
                name: drill.name,
                description: drill.description,
                file: drill.file,
                sha256: drill.sha256
            ),
            run: RunInfo(
                id: UUID().uuidString.lowercased(),
                startedAt: Date(),
                endedAt: Date(),
                durationSeconds: 0,
                seed: seed,
                segment: nil,
                interrupted: false,
                aborted: false,
                dataExhausted: false,
                executor: ExecutorInfo(name: "none", params: [:], stages: nil),
                bucketSeconds: 1,
                eventLoops: 0,
                harnessCPUSeconds: 0
            ),
            target: TargetInfo(baseURL: drill.target.baseURL.description),
            transport: TransportInfo(mode: .real, reason: "drills always test the real target", probe: nil, mock: nil),
            verdict: .inconclusive,
            verdictReason: "",
            metrics: [:],
            requests: [],
            thresholds: [],
            timeseries: [],
            histograms: [:],
            warnings: []
        )
    }
}
