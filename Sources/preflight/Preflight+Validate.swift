import ArgumentParser
import Foundation
import PreflightCore
import PreflightKit

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check scenario and drill files without sending anything.",
        discussion: """
            Examples:
              preflight validate scenarios/
              preflight validate my.json --var PREFLIGHT_TARGET=http://127.0.0.1:8000
            """
    )

    @Argument(help: "Scenario files, or folders of them.")
    var scenarios: [String]

    @OptionGroup var variables: VariableOptions

    func run() async throws {
        var options = RunCommandOptions(paths: scenarios)
        options.variables = variables.dictionary
        options.secretNames = variables.secretNames
        var drillOptions = DrillCommandOptions(paths: scenarios)
        drillOptions.variables = options.variables
        drillOptions.secretNames = options.secretNames
        var failed = false
        // Load scenarios and drills are told apart by their "kind"; both are checked, every problem reported.
        // A file named on the command line is a drill only when it says so; a folder contributes its drills.
        let drillFiles = ((try? DrillCommand.drillFiles(scenarios)) ?? []).filter(DrillLoader.isDrill(file:))
        let loadOnly = scenarios.filter { !drillFiles.contains($0) }
        if !loadOnly.isEmpty {
            options.paths = loadOnly
            switch RunCommand(options: options, logger: makeLogger()).loadAll() {
            case .success(let list):
                for s in list {
                    print("ok \(s.file): \(s.name), \(s.requests.count) requests, \(s.load.executor.name)")
                }
            case .failure(let e):
                // A folder holding only drills has no load scenario to check.
                if !(e.errors.count == 1 && e.errors[0].problems.first?.message == "no scenario files found"
                    && !drillFiles.isEmpty)
                {
                    FileHandle.standardError.write(Data((e.description + "\n").utf8))
                    failed = true
                }
            }
        }
        if !drillFiles.isEmpty {
            drillOptions.paths = drillFiles
            switch DrillCommand(options: drillOptions, logger: makeLogger()).loadAll() {
            case .success(let list):
                for d in list { print("ok \(d.file): drill \(d.name), \(d.objectives.count) objectives") }
            case .failure(let e):
                FileHandle.standardError.write(Data((e.description + "\n").utf8))
                failed = true
            }
        }
        if failed { throw ExitCode(ExitStatus.usage.rawValue) }
    }
}

struct RenderReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Re-render report.html, junit.xml and summary.md from a report.json, or mark it as a baseline.",
        discussion: """
            --mark-baseline records the run in its reports folder's baselines.json as the baseline of its scenario: \
            `run --baseline marked` then compares with it, and index.html shows it.
            Examples:
              preflight report reports/cached-symbol-20261129T110502Z/report.json --out /tmp/rendered
              preflight report reports/cached-symbol-20261129T110502Z --mark-baseline
            """
    )

    @Argument(help: "A report.json written by `preflight run` (or its run folder, with --mark-baseline).")
    var report: String

    @Option(help: "Folder to write into (default: the report's folder, whose index is refreshed).")
    var out: String?

    @Flag(help: "Mark this run as its scenario's baseline in the reports folder (baselines.json, index.html).")
    var markBaseline = false

    func run() throws {
        if markBaseline {
            guard out == nil else { throw ValidationError("--mark-baseline marks a run in place; drop --out") }
            let status = ReportCommand.markBaseline(report, console: .standard)
            if status != .pass { throw ExitCode(status.rawValue) }
            return
        }
        let status = ReportCommand(path: report, outDirectory: out).run()
        if status != .pass { throw ExitCode(status.rawValue) }
    }
}
