import ArgumentParser
import PreflightCore
import PreflightKit

struct Drill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run RTO/RPO drills: break the target on purpose, measure recovery and lost writes.",
        discussion: """
            Exit codes: 0 every objective met; 99 an objective failed; 3 invalid drill (steady state never held, \
            fault not verified, canary never readable); 2 bad drill file, nothing run; 130 interrupted (the \
            rollback ran, a partial report was written).
            Example: PREFLIGHT_FAULT_CMD='kill -9 $(cat api.pid)' preflight drill scenarios/rto_rpo_recovery.json
            """
    )

    @Argument(help: "Drill files, or folders holding them.")
    var drills: [String]

    @Option(help: "Replace every drill's target.baseURL.")
    var target: String?

    @Option(help: "Folder for report folders.")
    var out = "reports"

    @OptionGroup var variables: VariableOptions

    @Option(help: "Seed for the background load's random choices.")
    var seed: Seed?

    @Flag(
        help:
            "No line per phase (steady state, fault, recovery, rollback); the summary, warnings and failed actions still print."
    )
    var quiet = false

    @OptionGroup var live: LiveOutputOptions

    func run() async throws {
        var options = DrillCommandOptions(paths: drills)
        options.target = target
        options.outDirectory = out
        options.variables = variables.dictionary
        options.secretNames = variables.secretNames
        options.seed = seed?.value
        options.quiet = quiet
        options.live = live.options
        let status = await withSignalWatcher { control in
            await DrillCommand(options: options, logger: makeLogger()).run(control: control)
        }
        throw ExitCode(status.rawValue)
    }
}
