import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PreflightCore

/// What `preflight run` was asked to do.
public struct RunCommandOptions: Sendable {
    public var paths: [String]
    /// Replaces every scenario's `target.baseURL`.
    public var target: String?
    /// Overrides every scenario's `transport.mode`.
    public var mode: TransportSettings.Mode?
    public var allowMock = false
    public var outDirectory = "reports"
    public var seed: UInt64?
    public var variables: [String: String] = [:]
    /// `--secret NAME`: variables whose values are masked in every output, whatever their names.
    public var secretNames: Set<String> = []
    public var quiet = false
    public var eventLoops = System.coreCount
    /// `--segment I/N`: this process runs the I-th of N slices of every scenario.
    public var segment = ExecutionSegment.whole
    /// `--baseline`: a report.json (or run folder) to compare each run with, or `latest-pass` for the newest passing
    /// report of the same scenario under `outDirectory`.
    public var baseline: String?
    /// `--max-regression` limits judged against the baseline.
    public var maxRegressions: [String] = []
    /// `--min-count`: requests each side needs for a limit to be judged.
    public var minCount = ReportComparison.defaultMinCount
    /// `--stream`, `--dashboard`: where the runs go while they run.
    public var live = LiveOptions()

    public init(paths: [String]) { self.paths = paths }
}

/// `preflight run`: validates every scenario first (exit 2 before anything is sent), then runs them in order.
public struct RunCommand: Sendable {
    public var options: RunCommandOptions
    public var console: Console
    public var logger: Logger
    /// The live outputs of this command's runs (set while they run).
    var live: LiveFeed?

    public init(options: RunCommandOptions, console: Console = .standard, logger: Logger) {
        self.options = options
        self.console = console
        self.logger = logger
    }

    /// Loads and validates every scenario; every problem of every file is reported.
    /// Loads every scenario the paths name, in order, except that capacity searches go last: they drive the target
    /// to its limit and leave it changed (caches full of their keys, queues, pools grown), which the other
    /// scenarios of the batch would measure.
    public func loadAll() -> Result<[Scenario], ScenarioErrors> {
        loadInOrder().map { all in
            all.filter { $0.load.executor.capacitySearch == nil }
                + all.filter { $0.load.executor.capacitySearch != nil }
        }
    }

    private func loadInOrder() -> Result<[Scenario], ScenarioErrors> {
        let loader = ScenarioLoader(variables: options.variables, secretNames: options.secretNames)
        return Batch.load(
            paths: options.paths,
            files: ScenarioLoader.scenarioFiles,
            what: "scenario files",
            hint: "name .json files or a folder holding them"
        ) { file throws(ScenarioError) in
            var s = try loader.load(file: file)
            if let target = options.target {
                s.target.baseURL = try TargetURL.override(target, file: file)
            } else if let warning = Self.ignoredTargetVariable(s, environment: loader.environment) {
                s.loadWarnings.append(warning)
            }
            if let mode = options.mode { s.transport.mode = mode }
            return s
        }
    }

    /// `PREFLIGHT_TARGET` is no setting of its own: a scenario whose base URL does not reference it ignores it. Said
    /// aloud, since the run then goes to the file's own URL (and may fall back to the mock).
    static func ignoredTargetVariable(_ s: Scenario, environment: [String: String]) -> String? {
        guard let value = environment["PREFLIGHT_TARGET"], !value.isEmpty,
            !s.referencedVariables.contains("PREFLIGHT_TARGET"),
            s.target.baseURL.description != value.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        else { return nil }
        return "PREFLIGHT_TARGET is set (\(value)) but \(s.file) does not reference it: its target.baseURL is "
            + "\(s.target.baseURL); pass --target \(value) to replace the base URL, or write "
            + "${PREFLIGHT_TARGET:-…} in the file"
    }

    /// Runs every scenario and returns the exit status of the worst outcome.
    public func run(control: RunControl) async -> ExitStatus {
        let scenarios: [Scenario]
        switch loadAll() {
        case .success(let s): scenarios = s
        case .failure(let e):
            console.err(e.description)
            return .usage
        }
        // A report folder that cannot be written is found now, not after the whole load has run.
        if let problem = Self.unwritable(options.outDirectory) {
            console.err("error: --out \(options.outDirectory): \(problem); choose a writable folder with --out")
            return .usage
        }
        for folder in options.paths {
            let drills = (try? DrillCommand.drillFiles([folder])) ?? []
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else { continue }
            for drill in drills {
                console.err("skipped the drill \(drill): run drills with `preflight drill \(drill)`")
            }
        }
        let command = self
        return await options.live.with(console: console, control: control) { live in
            await Batch.run(scenarios, control: control, console: console, logger: logger) {
                scenario,
                console,
                logger in
                // Everything this scenario's run writes goes through its secrets.
                var command = command
                command.console = console
                command.logger = logger
                command.live = live
                for warning in scenario.loadWarnings { console.err("warning: \(warning)") }
                return try await command.runOne(scenario, control: control)
            }
        }
    }

    /// Why reports could not be written under `path`, or nil when a file can be created there.
    static func unwritable(_ path: String) -> String? {
        let root = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let probe = root.appendingPathComponent(".preflight-write-check-\(getpid())")
            try Data().write(to: probe)
            try? FileManager.default.removeItem(at: probe)
            return nil
        } catch {
            return "cannot write there (\((error as NSError).localizedDescription))"
        }
    }

    /// Appends to the CI step summary file; a failure is reported, not fatal.
    func appendStepSummary(_ markdown: String, to path: String) {
        guard
            let handle = FileHandle(forWritingAtPath: path)
                ?? {
                    _ = FileManager.default.createFile(atPath: path, contents: nil)
                    return FileHandle(forWritingAtPath: path)
                }()
        else {
            console.err("warning: cannot write GITHUB_STEP_SUMMARY at \(path)")
            return
        }
        handle.seekToEndOfFile()
        handle.write(Data(markdown.utf8))
        try? handle.close()
    }

    /// Real, mock, or — in `auto` mode — whatever the probe found (SPEC §6).
    func chooseTransport(
        _ scenario: Scenario,
        seed: UInt64,
        control: RunControl
    ) async throws -> (any Transport, TransportDecision) {
        switch scenario.transport.mode {
        case .real:
            return (try TransportFactory(scenario: scenario).real(), .forcedReal)
        case .mock:
            let mock = TransportFactory.mock(scenario, seed: seed)
            return (mock, TransportDecision(mode: .mock, reason: "mode mock was requested", mock: mock.info))
        case .auto:
            // A SIGINT during the probe cancels it rather than waiting out its timeout (the run then stops at once).
            let probe = await withTaskGroup(of: ProbeResult?.self) { group in
                group.addTask { await EndpointProbe.probe(scenario, seed: seed) }
                group.addTask {
                    await control.wait(for: .interrupted)
                    return nil
                }
                var found: ProbeResult?
                for await result in group {
                    group.cancelAll()
                    if let result { found = result }
                }
                return found
                    ?? ProbeResult(
                        exists: true,
                        reason: "interrupted during the probe; nothing was mocked",
                        error: "aborted"
                    )
            }
            logger.info("probe", metadata: ["probe.exists": "\(probe.exists)", "probe.reason": "\(probe.reason)"])
            if probe.exists {
                let transport = try TransportFactory(scenario: scenario).real()
                return (transport, TransportDecision(mode: .real, reason: probe.reason, probe: probe.info))
            }
            let mock = TransportFactory.mock(scenario, seed: seed)
            return (
                mock,
                TransportDecision(
                    mode: .mock,
                    reason: "target endpoint not found (\(probe.reason))",
                    probe: probe.info,
                    mock: mock.info,
                    advice: probe.advice
                )
            )
        }
    }

    /// A random seed for a whole run; for a segment, one derived from the scenario's SHA-256, so the N processes of
    /// a distributed run share it without talking to each other (and the report records it for a replay).
    static func defaultSeed(for scenario: Scenario, segment: ExecutionSegment) -> UInt64 {
        guard !segment.isWhole else { return UInt64.random(in: 0...PreflightInfo.maxSeed) }
        let hex = scenario.sha256.prefix(16)
        return (UInt64(hex, radix: 16) ?? 0) & PreflightInfo.maxSeed
    }

    /// The baseline of `scenario` and its limits, resolved before anything is sent; nil without `--baseline`, or
    /// (with a warning) when `latest-pass` finds no passing report of the scenario yet.
    func baseline(
        for scenario: Scenario
    ) throws(ReportComparison.Refusal) -> (
        report: Report, path: String, limits: [ReportComparison.Limit]
    )? {
        guard let choice = options.baseline else { return nil }
        let names = Set(scenario.requests.map(\.name))
        let limits = try options.maxRegressions.map { text throws(ReportComparison.Refusal) in
            try ReportComparison.Limit.parse(text, requestNames: names).get()
        }
        let report: Report
        let path: String
        if choice == "latest-pass" {
            let root = URL(fileURLWithPath: options.outDirectory)
            guard
                let entry = RunIndex.entries(in: root).first(where: {
                    $0.report?.scenario.sha256 == scenario.sha256 && $0.report?.verdict == .pass
                        && $0.report?.run.segment == nil
                }), let found = entry.report
            else {
                console.err("no passing report of \(scenario.name) in \(root.path) yet: nothing to compare with")
                return nil
            }
            (report, path) = (found, root.appendingPathComponent(entry.folder).path)
        } else if choice == "marked" {
            let root = URL(fileURLWithPath: options.outDirectory)
            guard let mark = BaselineMarks.load(root: root)[scenario.sha256] else {
                throw ReportComparison.Refusal(
                    description: "--baseline marked: no baseline of \(scenario.name) is marked in \(root.path) "
                        + "(preflight report \(root.path)/RUN --mark-baseline)"
                )
            }
            path = root.appendingPathComponent(mark.folder).path
            report = try CompareCommand.load(path)
        } else {
            report = try CompareCommand.load(choice)
            path = choice
        }
        guard report.scenario.sha256 == scenario.sha256 else {
            throw ReportComparison.Refusal(
                description: "--baseline \(path) is a run of another scenario (scenario.sha256 "
                    + "\(report.scenario.sha256.prefix(12))…, \(scenario.file) is \(scenario.sha256.prefix(12))…)"
            )
        }
        return (report, path, limits)
    }

    /// The comparison's limits as `regression{…}` thresholds of the new report; one beyond its limit fails it.
    static func applying(
        _ rows: [ReportComparison.Row],
        baseline: Report,
        path: String,
        to report: Report
    ) -> Report {
        var report = report
        report.thresholds += rows.map {
            ThresholdResult(
                metric: $0.name,
                expression: "change<=\(JSONValue.format($0.limitPercent))%",
                observed: $0.changePercent.map { ($0 * 100).rounded() / 100 },
                ok: !$0.failed
            )
        }
        report.warnings.append("compared with baseline \(baseline.run.id) (\(path))")
        report.comparison = ComparisonSection(rows: rows, baseline: baseline, path: path)
        for row in rows {
            switch row.outcome {
            case .notJudged(let why): report.warnings.append("\(row.name) not judged: \(why)")
            case .withinPrecision: report.warnings.append("\(row.name): within the histogram's precision")
            case .withinNoise: report.warnings.append("\(row.name): within run-to-run noise")
            case .ok, .regression: break
            }
        }
        if report.verdict == .pass, !rows.contains(where: \.failed) {
            // The passing reason counts the regression limits too.
            report.verdictReason = "all \(report.thresholds.count) thresholds passed, the regression limits included"
        }
        if let first = rows.first(where: \.failed) {
            (report.verdict, report.verdictReason) = VerdictRule.adding(
                failure: "\(first.name) worsened by \(String(format: "%.1f", first.changePercent ?? 0)) % against the "
                    + "baseline, more than \(JSONValue.format(first.limitPercent)) %",
                to: (report.verdict, report.verdictReason)
            )
        }
        return report
    }

    func runOne(_ scenario: Scenario, control: RunControl) async throws -> ExitStatus {
        let baseline: (report: Report, path: String, limits: [ReportComparison.Limit])?
        do {
            baseline = try self.baseline(for: scenario)
        } catch {
            console.err("error: \(error)")
            return .usage
        }
        if let search = scenario.load.executor.capacitySearch, search.stairs == nil, !options.segment.isWhole {
            // Each step is chosen from the last one's figures over the whole rate; N processes judging their own
            // shares would each choose their own steps. Stairs are fixed in advance: every shard runs the same.
            console.err(
                "error: \(scenario.file): an adaptive capacity-search runs in one process (each step is decided on the "
                    + "whole rate's figures); drop --segment, or give the search fixed \"stairs\" to run as segments "
                    + "and merge"
            )
            return .usage
        }
        let seed = options.seed ?? Self.defaultSeed(for: scenario, segment: options.segment)
        var scenario = scenario
        // `http.version: "auto"`: ALPN decides once, before the probe, so the probe speaks what the load will.
        var negotiation: String?
        if scenario.transport.mode != .mock { (scenario, negotiation) = await TransportFactory.negotiated(scenario) }
        var (transport, decision) = try await chooseTransport(scenario, seed: seed, control: control)
        if let negotiation, decision.mode == .real {
            decision.reason += "; \(negotiation)"
            logger.info("negotiated", metadata: ["http.version": "\(scenario.http.version.rawValue)"])
        }
        if decision.mode == .mock { scenario.warmup = nil }  // there is nothing to warm up
        if decision.probe != nil, scenario.data.contains(where: { $0.order == .unique }) {
            scenario = EndpointProbe.removingProbedUniqueValues(scenario, seed: seed)
        }
        let banner =
            decision.mode == .mock ? "MOCK TRANSPORT — \(decision.reason); results do not describe the target" : nil
        if let banner { console.err(banner) }
        if let advice = decision.advice, decision.mode == .mock { console.err("  \(advice)") }
        let progress = ProgressPrinter(console: console, quiet: options.quiet)
        var runOptions = RunOptions(
            seed: seed,
            eventLoops: options.eventLoops,
            segment: options.segment,
            progress: { progress.show($0) }
        )
        // The server's view needs a server: a mock run says so in `server{}` instead.
        if let spec = scenario.target.metrics, decision.mode == .real {
            runOptions.scraper = try ServerScraper(spec: spec, target: scenario.target, targetHTTP: scenario.http)
        }
        let runID = UUID().uuidString.lowercased()
        if let live {
            runOptions.live = live
            live.send(
                .started(
                    LiveRun(
                        scenario: scenario.name,
                        runID: runID,
                        segment: options.segment.isWhole ? nil : options.segment.description,
                        target: scenario.secrets.redact(scenario.target.baseURL.description),
                        mode: decision.mode == .mock ? "mock" : "real",
                        kind: scenario.load.executor.capacitySearch == nil ? "run" : "capacity-search",
                        startTime: Date().timeIntervalSince1970,
                        plannedSeconds: scenario.load.issuingSeconds,
                        bucketSeconds: LoadRunner.bucketSeconds(for: scenario.load),
                        thresholds: scenario.thresholds.map { "\($0.metric): \($0.expression)" }
                    )
                )
            )
        }
        let runner = LoadRunner(scenario: scenario, transport: transport, options: runOptions, logger: logger)
        console.err(
            "running \(scenario.name) (\(scenario.file)) against \(scenario.target.baseURL) [\(decision.mode.word)]"
        )
        var result = try await runner.run(control: control)
        progress.finish()
        if let banner { console.err(banner) }
        if let live { result.warnings += await live.settle() }
        var report = Report.build(
            scenario: scenario,
            plan: runner.plan,
            result: result,
            transport: decision,
            seed: seed,
            allowMock: options.allowMock,
            runID: runID
        )
        if let baseline {
            // The scenario was checked against the baseline before the run; only the limits are judged here.
            let rows =
                (try? ReportComparison.compare(
                    baseline: baseline.report,
                    new: report,
                    limits: baseline.limits,
                    minCount: options.minCount,
                    force: true
                )) ?? []
            report = Self.applying(rows, baseline: baseline.report, path: baseline.path, to: report)
        }
        let root = URL(fileURLWithPath: options.outDirectory)
        let (folder, written) = try ReportWriter(root: root).write(report, secrets: scenario.secrets)
        try RunIndex.write(root: root)
        if let stepSummary = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !stepSummary.isEmpty {
            appendStepSummary(scenario.secrets.redact(MarkdownSummary.render(written)), to: stepSummary)
        }
        console.out(TextSummary.render(written, folder: folder.path))
        live?.send(.finished(LiveEnd(written, folder: folder)))
        return written.exitStatus
    }
}

/// Every scenario file that failed validation.
public struct ScenarioErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ScenarioError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Live progress on stderr: one line rewritten in place on a terminal, else a plain line every 10 s at most.
final class ProgressPrinter: Sendable {
    private let console: Console
    private let live: Bool
    private let lastPlain = NIOLockedValueBox<Double>(-10)

    init(console: Console, quiet: Bool) {
        self.console = console
        self.live = console.errIsTerminal && !quiet
    }

    func show(_ p: Progress) {
        let p95 = p.lastSecondP95Ms.map { HumanFormat.ms($0) } ?? "–"
        let line = String(
            format: "%@ / %@  %@ req/s  p95 %@  errors %d  VUs %d",
            DurationText.format(seconds: p.elapsed.rounded()),
            DurationText.format(seconds: p.planned),
            HumanFormat.count(p.lastSecondRate),
            p95,
            p.errors,
            p.activeVUs
        )
        if live {
            let fraction = p.planned > 0 ? min(1, p.elapsed / p.planned) : 0
            let filled = Int(fraction * 20)
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 20 - filled)
            console.errRaw("\r\u{1B}[2K\(bar) \(line)")
        } else {
            let due = lastPlain.withLockedValue { last -> Bool in
                guard p.elapsed - last >= 10 else { return false }
                last = p.elapsed
                return true
            }
            if due { console.err(line) }
        }
    }

    func finish() {
        if live { console.errRaw("\r\u{1B}[2K") }
    }
}
