import ArgumentParser
import PreflightCore
import PreflightKit

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run load scenarios and write reports.",
        discussion: """
            Every scenario is validated before any request is sent.
            Examples:
              preflight run scenarios/
              preflight run scenarios/cached_symbol.json --target http://127.0.0.1:8000 --var DURATION=10s
              preflight run my.json --mode real --seed 42 --out ci-reports --quiet
            """
    )

    @Argument(help: "Scenario files, or folders of them.")
    var scenarios: [String]

    @Option(help: "Replace every scenario's target.baseURL.")
    var target: String?

    @Option(help: "Transport: auto (probe, mock only a missing endpoint), real (never mock) or mock (always).")
    var mode: TransportSettings.Mode?

    @Flag(help: "Let a run on the mock transport exit 0 when its thresholds pass (it is still labelled mock).")
    var allowMock = false

    @Option(help: "Folder for report folders.")
    var out = "reports"

    @Option(help: "Seed for every random choice (data order, think times), at most 2^53-1; random when not given.")
    var seed: Seed?

    @OptionGroup var variables: VariableOptions

    @Flag(help: "No live progress; at most one progress line every 10 s.")
    var quiet = false

    @Option(help: "Event loops (threads) that drive the load (default: one per core).")
    var eventLoops: Int?

    @Option(
        help: """
            Run the I-th (from 0) of N slices of every scenario, e.g. 0/3, 1/3 and 2/3 on three machines; \
            `preflight merge` combines their reports.
            """
    )
    var segment: ExecutionSegment?

    @Option(
        help: """
            Compare each run with this report.json (or run folder), `latest-pass` (the newest passing report of \
            the same scenario under --out) or `marked` (the one `preflight report RUN --mark-baseline` marked). \
            Limits: --max-regression.
            """
    )
    var baseline: String?

    @Option(help: "With --baseline: METRIC:AGGREGATION:PCT%, e.g. http_req_duration{name:features}:p(95):10%.")
    var maxRegression: [String] = []

    @Option(help: "With --baseline: requests each side needs for a limit to be judged.")
    var minCount = 1000

    @OptionGroup var live: LiveOutputOptions

    func validate() throws {
        if let eventLoops, eventLoops < 1 { throw ValidationError("--event-loops must be at least 1") }
        if !maxRegression.isEmpty && baseline == nil {
            throw ValidationError("--max-regression needs --baseline REPORT (or --baseline latest-pass)")
        }
        for text in maxRegression {
            if case .failure(let refusal) = ReportComparison.Limit.parse(text) { throw ValidationError("\(refusal)") }
        }
        guard minCount >= 1 else { throw ValidationError("--min-count must be at least 1") }
    }

    func run() async throws {
        var options = RunCommandOptions(paths: scenarios)
        options.target = target
        options.mode = mode
        options.allowMock = allowMock
        options.outDirectory = out
        options.seed = seed?.value
        options.variables = variables.dictionary
        options.secretNames = variables.secretNames
        options.quiet = quiet
        if let eventLoops { options.eventLoops = eventLoops }
        if let segment { options.segment = segment }
        options.baseline = baseline
        options.maxRegressions = maxRegression
        options.minCount = minCount
        options.live = live.options
        let status = await withSignalWatcher { control in
            await RunCommand(options: options, logger: makeLogger()).run(control: control)
        }
        throw ExitCode(status.rawValue)
    }
}
