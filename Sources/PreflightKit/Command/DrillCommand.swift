import Foundation
import Logging
import PreflightCore

/// What `preflight drill` was asked to do.
public struct DrillCommandOptions: Sendable {
    public var paths: [String]
    /// Replaces every drill's `target.baseURL`.
    public var target: String?
    public var outDirectory = "reports"
    public var variables: [String: String] = [:]
    /// `--secret NAME`: variables whose values are masked in every output, whatever their names.
    public var secretNames: Set<String> = []
    public var seed: UInt64?
    /// No line per phase; the summary, warnings and failed actions still print.
    public var quiet = false
    /// `--stream`, `--dashboard`: the drill's milestones and its background load's buckets while it runs.
    public var live = LiveOptions()
    public var environment = ProcessInfo.processInfo.environment

    public init(paths: [String]) { self.paths = paths }
}

/// `preflight drill`: validates every drill first (exit 2 before anything runs), then runs them one after another.
public struct DrillCommand: Sendable {
    public var options: DrillCommandOptions
    public var console: Console
    public var logger: Logger
    /// The live outputs of this command's drills (set while they run).
    var live: LiveFeed?

    public init(options: DrillCommandOptions, console: Console = .standard, logger: Logger) {
        self.options = options
        self.console = console
        self.logger = logger
    }

    /// The drill files among `paths`: files as given, folders by their drill files.
    public static func drillFiles(_ paths: [String]) throws(ScenarioError) -> [String] {
        try ScenarioLoader.files(paths, inFolders: DrillLoader.isDrill(file:))
    }

    /// Loads and validates every drill; every problem of every file is reported.
    public func loadAll() -> Result<[Drill], ScenarioErrors> {
        let loader = DrillLoader(
            variables: options.variables,
            environment: options.environment,
            secretNames: options.secretNames
        )
        return Batch.load(
            paths: options.paths,
            files: Self.drillFiles,
            what: "drill files",
            hint: "drills say \"kind\": \"drill\""
        ) { file throws(ScenarioError) in
            var d = try loader.load(file: file)
            if let target = options.target {
                d.target.baseURL = try TargetURL.override(target, file: file)
                d.background?.target.baseURL = d.target.baseURL
            }
            return d
        }
    }

    public func run(control: RunControl) async -> ExitStatus {
        let drills: [Drill]
        switch loadAll() {
        case .success(let d): drills = d
        case .failure(let e):
            console.err(e.description)
            return .usage
        }
        let command = self
        return await options.live.with(console: console, control: control) { live in
            await Batch.run(drills, control: control, console: console, logger: logger) { drill, console, logger in
                var command = command
                command.console = console
                command.logger = logger
                command.live = live
                return try await command.runOne(drill, control: control)
            }
        }
    }

    func runOne(_ drill: Drill, control: RunControl) async throws -> ExitStatus {
        let seed = options.seed ?? UInt64.random(in: 0...PreflightInfo.maxSeed)
        let root = URL(fileURLWithPath: options.outDirectory)
        let writer = ReportWriter(root: root)
        let folder = try writer.makeFolder(scenario: drill.name, date: Date())
        if !options.quiet {
            console.err(
                "drill \(drill.name) (\(drill.file)) against \(drill.target.baseURL); run folder \(folder.path)"
            )
        }
        var runner = DrillRunner(
            drill: drill,
            folder: folder,
            environment: options.environment,
            seed: seed,
            console: console,
            logger: logger
        )
        runner.quiet = options.quiet
        let runID = UUID().uuidString.lowercased()
        if let live {
            runner.live = live
            live.send(
                .started(
                    LiveRun(
                        scenario: drill.name,
                        runID: runID,
                        segment: nil,
                        target: drill.secrets.redact(drill.target.baseURL.description),
                        mode: "real",
                        kind: "drill",
                        startTime: Date().timeIntervalSince1970,
                        plannedSeconds: 0,
                        bucketSeconds: drill.background.map { LoadRunner.bucketSeconds(for: $0.load) } ?? 1,
                        thresholds: drill.objectives.map { "\($0.kind.metric): \($0.expression)" }
                    )
                )
            )
        }
        let result = try await runner.run(control: control)
        var report = Report.build(drill: drill, result: result, seed: seed)
        report.run.id = runID
        if let live { report.warnings += await live.settle() }
        let written = try writer.write(report, to: folder, secrets: drill.secrets)
        for name in ReportWriter.redactLogs(in: folder, secrets: drill.secrets) {
            console.err("warning: \(name) is larger than 64 MiB and was not searched for secrets")
        }
        try RunIndex.write(root: root)
        if let stepSummary = options.environment["GITHUB_STEP_SUMMARY"], !stepSummary.isEmpty {
            RunCommand(options: RunCommandOptions(paths: []), console: console, logger: logger)
                .appendStepSummary(drill.secrets.redact(MarkdownSummary.render(written)), to: stepSummary)
        }
        console.out(DrillSummary.render(written, folder: folder.path))
        live?.send(.finished(LiveEnd(written, folder: folder)))
        return written.exitStatus
    }
}

/// The drill's lines on stdout.
public enum DrillSummary {
    public static func render(_ r: Report, folder: String?) -> String {
        var lines = ["\(r.verdict.word)  \(r.scenario.name): \(r.verdictReason)"]
        if let d = r.drill {
            let s: (Double?) -> String = { HumanFormat.ms($0.map { $0 * 1000 }) }
            lines.append(
                "  RTO \(s(d.rtoSeconds)) (± \(s(d.rtoResolutionSeconds))) · detection \(s(d.detectionSeconds)) · "
                    + "first success \(s(d.timeToFirstSuccessSeconds)) · SLO recovered \(s(d.sloRecoveredSeconds))"
            )
            if let c = d.canary {
                lines.append(
                    "  canary: \(c.written) written, \(c.acknowledged) acknowledged, \(c.lostWrites) lost, RPO "
                        + "\(s(c.rpoSeconds)), \(c.presentUnacknowledged) stored unacknowledged, \(c.duplicates) duplicated"
                )
            } else {
                lines.append("  RPO not measured (\(d.rpoNotMeasured ?? "no canary"))")
            }
            for t in d.objectives {
                lines.append("  \(t.mark) \(t.metric) \(t.expression): \(HumanFormat.observed(t))")
            }
        }
        if let folder { lines.append("  report: \(folder)/report.html") }
        return lines.joined(separator: "\n")
    }
}
