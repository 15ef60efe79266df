import ArgumentParser
import Foundation
import PreflightCore
import PreflightKit

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The whole product in one command: provider, API, backfill, every scenario, the RTO/RPO drill.",
        discussion: """
            Starts `preflight provider-sim` and `preflight serve --provider … --parallel-backfill` as child \
            processes on free loopback ports with a temporary database, waits for the scheduler to backfill the \
            demo universe, runs every load scenario in scenarios/ in REAL mode and the rto_rpo_recovery drill \
            (SIGKILL of the API and a restart on the same database and port), writes reports/index.html and \
            prints a table. No child process survives it, also on Ctrl-C. Exit code: the worst outcome.
            Examples:
              preflight demo
              preflight demo --quick --keep /tmp/demo
              preflight demo --full
            """
    )

    @Option(help: "Folder for report folders and index.html.")
    var out = "reports"

    @Flag(help: "A 100-symbol universe and 3 s runs (what the tests run).")
    var quick = false

    @Flag(help: "Also run the capacity search of scenarios/capacity_features.json (a minute or two more).")
    var full = false

    @Option(help: "Keep the database and logs in this folder (default: a temporary folder, removed at the end).")
    var keep: String?

    @Option(help: "Folder with the scenarios, the drill and data/universe.csv.")
    var scenarios = "scenarios"

    func run() async throws {
        var options = DemoOptions(executable: currentExecutable())
        options.outDirectory = out
        options.quick = quick
        options.full = full
        options.keep = keep
        options.scenariosDirectory = scenarios
        let children = DemoChildren()
        let stopChildren: @Sendable () -> Void = { children.stopAll(grace: 1) }
        let status = await withSignalWatcher(beforeExit: stopChildren) { control in
            await DemoCommand(options: options, children: children, logger: makeLogger()).run(control: control)
        }
        throw ExitCode(status.rawValue)
    }
}

/// The path of the running executable, so the demo starts the same build's `serve` and `provider-sim`.
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}
