import ArgumentParser
import PreflightCore
import PreflightKit

struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a run with a stored baseline of the same scenario: a regression gate.",
        discussion: """
            Values come from the reports' HDR histograms and counters. A limit is exceeded when the new value is \
            worse than the baseline's by more than its percentage (higher latency, error rate, failures, drops; \
            lower request count, checks or iterations). Not judged: selections with fewer than --min-count \
            requests on either side. Differences within the histogram's precision (0.2 %), or within twice the \
            standard deviation of --noise-runs earlier reports, are not regressions. Exit 99 on a regression.
            Examples:
              preflight compare reports/base/report.json reports/new/report.json \\
                  --max-regression 'http_req_duration{name:features}:p(95):10%'
              preflight compare base new --max-regression 'http_req_failed:rate:50%' --noise-runs r1 --noise-runs r2
            """
    )

    @Argument(help: "The baseline's report.json (or its run folder).")
    var baseline: String

    @Argument(help: "The new run's report.json (or its run folder).")
    var new: String

    @Option(help: "METRIC:AGGREGATION:PCT%, e.g. http_req_duration{name:features}:p(95):10% (repeatable).")
    var maxRegression: [String] = []

    @Option(help: "Requests each side needs for a selection to be judged.")
    var minCount = 1000

    @Option(help: "An earlier report of the same scenario, to measure run-to-run noise (repeatable, 2 or more).")
    var noiseRuns: [String] = []

    @Flag(help: "Compare reports of different scenario files.")
    var force = false

    func validate() throws {
        guard minCount >= 1 else { throw ValidationError("--min-count must be at least 1") }
        guard noiseRuns.isEmpty || noiseRuns.count >= 2 else {
            throw ValidationError("--noise-runs needs at least 2 reports to measure a spread")
        }
    }

    func run() async throws {
        var command = CompareCommand(baseline: baseline, new: new, limits: maxRegression)
        command.minCount = minCount
        command.noiseRuns = noiseRuns
        command.force = force
        throw ExitCode(command.run().rawValue)
    }
}
