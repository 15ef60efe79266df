import ArgumentParser
import MarketData
import PreflightCore
import PreflightKit

/// `--var KEY=VALUE`: sets `${KEY}` in scenarios and drills.
struct Variable: ExpressibleByArgument {
    var key: String
    var value: String

    init?(argument: String) {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else { return nil }
        key = String(argument[..<eq])
        value = String(argument[argument.index(after: eq)...])
    }

    /// Later settings of a key win, as on a shell command line.
    static func dictionary(_ variables: [Variable]) -> [String: String] {
        Dictionary(variables.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

/// `--var KEY=VALUE` and `--secret NAME`, shared by `run`, `drill` and `validate`.
struct VariableOptions: ParsableArguments {
    @Option(name: .customLong("var"), help: "Set ${KEY} in scenarios and drills (wins over the environment).")
    var variables: [Variable] = []

    @Option(
        name: .customLong("secret"),
        help: """
            Mask this variable's value (from --var or the environment) as *** in every output; variables whose \
            names contain TOKEN, SECRET, PASSWORD, KEY or AUTH are masked anyway.
            """
    )
    var secrets: [String] = []

    var dictionary: [String: String] { Variable.dictionary(variables) }
    var secretNames: Set<String> { Set(secrets) }
}

/// `--seed N`: at most 2^53 - 1, so that JSON readers of the report keep it exact.
struct Seed: ExpressibleByArgument {
    var value: UInt64

    init?(argument: String) {
        guard let n = UInt64(argument), n <= PreflightInfo.maxSeed else { return nil }
        value = n
    }
}

extension TransportSettings.Mode: ExpressibleByArgument {}

/// `--segment I/N`, 0 ≤ I < N ≤ 1024.
extension ExecutionSegment: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
extension ProviderSimulatorConfiguration.RateLimitWindow: ExpressibleByArgument {}
extension ProviderSimulatorConfiguration.HeaderStyle: ExpressibleByArgument {}

/// `serve --parallel-backfill` or `--sequential-backfill` (the default); giving both is a usage error.
enum BackfillMode: String, EnumerableFlag {
    case parallelBackfill
    case sequentialBackfill
}

/// `--stream`, `--dashboard`, `--dashboard-linger`: where `run` and `drill` send their figures while they run.
struct LiveOutputOptions: ParsableArguments {
    @Option(
        help: """
            Send each time bucket's figures somewhere while the run goes (repeatable): json=FILE appends JSON \
            lines in k6's -o json shape; prometheus-rw=URL sends Prometheus remote write \
            (http://host:9090/api/v1/write). A drill's milestones and its background load's buckets go too.
            """
    )
    var stream: [String] = []

    @Option(
        help: """
            Serve a live dashboard while the run goes, at HOST:PORT (default 127.0.0.1:5665 when given alone): \
            charts that fill as buckets complete, the thresholds as they stand, a drill's timeline, the verdict \
            and report at the end.
            """
    )
    var dashboard: String?

    @Option(help: "With --dashboard: keep serving it this long after the last run (e.g. 30s), for a last look.")
    var dashboardLinger: String?

    func validate() throws {
        if let dashboardLinger, DurationText.seconds(dashboardLinger) == nil {
            throw ValidationError("--dashboard-linger \(dashboardLinger): write a duration, e.g. 30s")
        }
        if let dashboard, DashboardSink.address(dashboard) == nil {
            throw ValidationError("--dashboard \(dashboard): write it as HOST:PORT, e.g. 127.0.0.1:5665")
        }
        for text in stream {
            if case .failure(let problem) = StreamOption.parse(text) { throw ValidationError("\(problem)") }
        }
    }

    /// The options as the commands take them (validated above).
    var options: LiveOptions {
        var o = LiveOptions()
        o.streams = stream.compactMap { try? StreamOption.parse($0).get() }
        o.dashboard = dashboard.flatMap(DashboardSink.address)
        o.dashboardLinger = dashboardLinger.flatMap(DurationText.seconds) ?? 0
        return o
    }
}
