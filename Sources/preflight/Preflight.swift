import ArgumentParser
import Dispatch
import Foundation
import Hummingbird
import Logging
import MarketData
import Metrics
import PreflightKit
import Prometheus

/// The `preflight` command tree: argument parsing and wiring only; the work is in PreflightKit.
@main
struct Preflight: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Load-test and validate an HTTP API from declarative JSON scenarios.",
        discussion: """
            Exit codes: 0 every threshold passed against the real target; 99 a threshold failed; \
            3 inconclusive (mock transport without --allow-mock); 2 usage or scenario error, nothing sent; \
            1 internal error; 130 interrupted (a partial report was written).
            Start with: preflight demo
            Shell completions: preflight --generate-completion-script bash|zsh|fish
            """,
        version: PreflightInfo.version,
        subcommands: [
            Demo.self, Run.self, Drill.self, Validate.self, RenderReport.self, Serve.self, ProviderSim.self,
            Baseline.self,
        ]
    )

    /// Parses and runs, with one change to swift-argument-parser's exit codes: a usage error (unknown option, bad
    /// value, missing argument) exits 2 as the exit-code table says, not EX_USAGE (64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// One line on stdout with the address a server listens on (with `--port 0`, the only way to learn the port).
func printListening(_ what: String, host: String, port: Int) {
    let h = host.contains(":") ? "[\(host)]" : host
    // Written straight to the descriptor: stdout may be a pipe, where print's buffer would hold the line back.
    FileHandle.standardOutput.write(Data("\(what): listening on http://\(h):\(port)\n".utf8))
}

/// Logs go to stderr; `PREFLIGHT_LOG_LEVEL` (trace…critical) sets the level, `notice` by default. An unknown level
/// is said once on stderr, not silently ignored.
func makeLogger() -> Logger {
    let raw = ProcessInfo.processInfo.environment["PREFLIGHT_LOG_LEVEL"]
    let parsed = raw.flatMap { Logger.Level(rawValue: $0.lowercased()) }
    if let raw, !raw.isEmpty, parsed == nil {
        FileHandle.standardError.write(
            Data(
                "warning: PREFLIGHT_LOG_LEVEL=\(raw) is not a level (trace, debug, info, notice, warning, error, critical); using notice\n"
                    .utf8
            )
        )
    }
    let level = parsed ?? .notice
    var logger = Logger(label: "preflight") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = level
    return logger
}

/// Parses `--var KEY=VALUE` options.
func parseVariables(_ pairs: [String]) throws -> [String: String] {
    var out: [String: String] = [:]
    for pair in pairs {
        guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
            throw ValidationError("--var takes KEY=VALUE, got \"\(pair)\"")
        }
        out[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
    }
    return out
}

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
    var mode: String?

    @Flag(help: "Let a run on the mock transport exit 0 when its thresholds pass (it is still labelled mock).")
    var allowMock = false

    @Option(help: "Folder for report folders.")
    var out = "reports"

    @Option(help: "Seed for every random choice (data order, think times); random when not given.")
    var seed: UInt64?

    @Option(name: .customLong("var"), help: "Set ${KEY} in scenarios (wins over the environment).")
    var variables: [String] = []

    @Flag(help: "No live progress; at most one progress line every 10 s.")
    var quiet = false

    @Option(help: "Event loops (threads) that drive the load (default: one per core).")
    var eventLoops: Int?

    func run() async throws {
        var options = RunCommandOptions(paths: scenarios)
        options.target = target
        if let mode {
            guard let m = TransportSettings.Mode(rawValue: mode) else {
                throw ValidationError("--mode must be auto, real or mock, got \"\(mode)\"")
            }
            options.mode = m
        }
        options.allowMock = allowMock
        options.outDirectory = out
        if let seed, seed > PreflightInfo.maxSeed {
            throw ValidationError(
                "--seed must be at most \(PreflightInfo.maxSeed) (2^53 - 1), so JSON readers keep it exact"
            )
        }
        options.seed = seed
        options.variables = try parseVariables(variables)
        options.quiet = quiet
        if let eventLoops {
            guard eventLoops >= 1 else { throw ValidationError("--event-loops must be at least 1") }
            options.eventLoops = eventLoops
        }
        let control = RunControl()
        let signals = SignalWatcher(control: control)
        let status = await RunCommand(options: options, logger: makeLogger()).run(control: control)
        signals.cancel()
        throw ExitCode(status.rawValue)
    }
}

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

    @Option(name: .customLong("var"), help: "Set ${KEY} in drills (wins over the environment).")
    var variables: [String] = []

    @Option(help: "Seed for the background load's random choices.")
    var seed: UInt64?

    @Flag(help: "Accepted for symmetry with run; drills print one line per phase.")
    var quiet = false

    func run() async throws {
        var options = DrillCommandOptions(paths: drills)
        options.target = target
        options.outDirectory = out
        options.variables = try parseVariables(variables)
        if let seed, seed > PreflightInfo.maxSeed {
            throw ValidationError(
                "--seed must be at most \(PreflightInfo.maxSeed) (2^53 - 1), so JSON readers keep it exact"
            )
        }
        options.seed = seed
        let control = RunControl()
        let signals = SignalWatcher(control: control)
        let status = await DrillCommand(options: options, logger: makeLogger()).run(control: control)
        signals.cancel()
        throw ExitCode(status.rawValue)
    }
}

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
            """
    )

    @Option(help: "Folder for report folders and index.html.")
    var out = "reports"

    @Flag(help: "A 100-symbol universe and 3 s runs (what the tests run).")
    var quick = false

    @Option(help: "Keep the database and logs in this folder (default: a temporary folder, removed at the end).")
    var keep: String?

    @Option(help: "Folder with the scenarios, the drill and data/universe.csv.")
    var scenarios = "scenarios"

    func run() async throws {
        var options = DemoOptions(executable: currentExecutable())
        options.outDirectory = out
        options.quick = quick
        options.keep = keep
        options.scenariosDirectory = scenarios
        let children = DemoChildren()
        let control = RunControl()
        let signals = SignalWatcher(control: control, beforeExit: { children.stopAll(grace: 1) })
        let status = await DemoCommand(options: options, children: children, logger: makeLogger())
            .run(control: control)
        signals.cancel()
        throw ExitCode(status.rawValue)
    }
}

/// The path of the running executable, so the demo starts the same build's `serve` and `provider-sim`.
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}

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

    @Option(name: .customLong("var"), help: "Set ${KEY} in scenarios (wins over the environment).")
    var variables: [String] = []

    func run() async throws {
        var options = RunCommandOptions(paths: scenarios)
        options.variables = try parseVariables(variables)
        var drillOptions = DrillCommandOptions(paths: scenarios)
        drillOptions.variables = options.variables
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
        abstract: "Re-render report.html, junit.xml and summary.md from a report.json.",
        discussion: """
            Example:
              preflight report reports/cached-symbol-20261129T110502Z/report.json --out /tmp/rendered
            """
    )

    @Argument(help: "A report.json written by `preflight run`.")
    var report: String

    @Option(help: "Folder to write into (default: the report's folder, whose index is refreshed).")
    var out: String?

    func run() throws {
        let status = ReportCommand(path: report, outDirectory: out).run()
        if status != .pass { throw ExitCode(status.rawValue) }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the reference Market Data API (SQLite storage, quant features, cache).",
        discussion: """
            Stops gracefully on SIGTERM or SIGINT. Admin routes need --admin-token's bearer token when set.
            Examples:
              preflight serve --demo-data
              preflight serve --port 0 --db /tmp/api.sqlite --provider http://127.0.0.1:9000 --parallel-backfill
            """
    )

    @Option(help: "Port on 127.0.0.1 (0 picks a free one).")
    var port = 8000

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "SQLite database file (created if missing).")
    var db = FileManager.default.temporaryDirectory.appendingPathComponent("preflight/market.sqlite").path

    @Option(help: "Symbols the API knows, comma-separated.")
    var symbols = "AAPL,MSFT,GOOG,AMZN,NVDA"

    @Option(help: "Bearer token required on /api/v1/admin/* (or PREFLIGHT_ADMIN_TOKEN).")
    var adminToken: String?

    @Flag(help: "Fill the symbols with two years of deterministic synthetic daily bars.")
    var demoData = false

    @Option(help: "Feature responses kept in the cache (0 disables it).")
    var cacheSize = 256

    @Option(help: "Seconds a cached feature response may be served.")
    var cacheTTL = 60

    @Option(help: "Upstream provider base URL; enables the AutoBackfillScheduler.")
    var provider: String?

    @Option(help: "The provider's rate limit when known, like 5/1m (it is also learned from its headers).")
    var providerRateLimit: String?

    @Flag(help: "Backfill several symbols at once (the default).")
    var parallelBackfill = false

    @Flag(help: "Backfill one symbol at a time.")
    var sequentialBackfill = false

    @Option(help: "Symbols backfilled at once in parallel mode.")
    var maxConcurrentSymbols = 3

    @Option(help: "Seconds between periodic backfill runs.")
    var backfillInterval = 3600

    @Option(help: "Calendar days of history to keep complete.")
    var lookbackDays = 730

    func run() async throws {
        var configuration = MarketDataConfiguration(databasePath: db)
        configuration.host = host
        configuration.port = port
        configuration.symbols = symbols.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard
            configuration.symbols.allSatisfy({
                $0.range(of: #"^[A-Z][A-Z0-9.\-]{0,14}$"#, options: .regularExpression) != nil
            })
        else { throw ValidationError("--symbols must be symbols like AAPL,BRK.B (^[A-Z][A-Z0-9.-]{0,14}$)") }
        configuration.adminToken = adminToken ?? ProcessInfo.processInfo.environment["PREFLIGHT_ADMIN_TOKEN"]
        configuration.demoData = demoData
        configuration.cacheCapacity = cacheSize
        configuration.cacheTTL = .seconds(cacheTTL)
        configuration.providerURL = provider
        if let providerRateLimit {
            guard let limit = ProviderSimulatorConfiguration.parseRateLimit(providerRateLimit) else {
                throw ValidationError(
                    "--provider-rate-limit takes COUNT/WINDOW like 5/1m, got \"\(providerRateLimit)\""
                )
            }
            configuration.providerRateLimit = limit
        }
        guard !(parallelBackfill && sequentialBackfill) else {
            throw ValidationError("--parallel-backfill and --sequential-backfill exclude each other")
        }
        configuration.backfill.parallel = !sequentialBackfill
        guard maxConcurrentSymbols >= 1 else { throw ValidationError("--max-concurrent-symbols must be at least 1") }
        configuration.backfill.maxConcurrentSymbols = maxConcurrentSymbols
        configuration.backfill.interval = .seconds(backfillInterval)
        configuration.backfill.lookbackDays = lookbackDays
        var logger = makeLogger()
        logger[metadataKey: "service"] = "market-data"
        // One registry for the API's own metrics and anything reporting through swift-metrics; `/metrics` shows it.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let host = configuration.host
        let app = try await buildMarketDataApplication(
            configuration: configuration,
            metrics: APIMetrics(registry: registry),
            onListening: { port in printListening("preflight serve", host: host, port: port) },
            logger: logger
        )
        try await app.runService()
    }
}

struct ProviderSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider-sim",
        abstract: "Run the simulated upstream market-data provider (Polygon-style daily aggregates) on loopback.",
        discussion: """
            GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}; admin: POST /admin/faults {down, timeoutRate, \
            malformedRate, impossibleRate}, POST /admin/down, POST /admin/up, GET /admin/stats.
            Examples:
              preflight provider-sim --rate-limit 50/1s --latency 20ms-80ms
              preflight provider-sim --port 0 --rate-limit none --error-rate 0.05 --seed 7
            """
    )

    @Option(help: "Port on 127.0.0.1 (0 picks a free one).")
    var port = 9000

    @Option(help: "Requests per window, like 5/1m, 50/1s, or none.")
    var rateLimit = "5/1m"

    @Option(help: "Rate-limit window: fixed or sliding.")
    var window = "fixed"

    @Option(help: "Rate-limit headers: x (Reset as seconds), x-epoch (Reset as epoch), ietf (RateLimit fields).")
    var headers = "x"

    @Option(help: "Latency: 50ms (fixed) or 20ms-80ms (uniform).")
    var latency = "none"

    @Option(help: "Share of requests answered 500 or 503.")
    var errorRate = 0.0

    @Option(help: "Seed of the random walk and the fault draws.")
    var seed: UInt64 = 1

    @Option(help: "Bars per response at most (longer ranges get a next_url).")
    var maxBars = 120

    func run() async throws {
        var configuration = ProviderSimulatorConfiguration()
        configuration.port = port
        configuration.seed = seed
        guard let limit = ProviderSimulatorConfiguration.parseRateLimit(rateLimit) else {
            throw ValidationError("--rate-limit takes COUNT/WINDOW like 5/1m or 50/1s, or none; got \"\(rateLimit)\"")
        }
        configuration.rateLimit = limit
        guard let w = ProviderSimulatorConfiguration.RateLimitWindow(rawValue: window) else {
            throw ValidationError("--window is fixed or sliding, got \"\(window)\"")
        }
        configuration.rateLimitWindow = w
        guard let style = ProviderSimulatorConfiguration.HeaderStyle(rawValue: headers) else {
            throw ValidationError("--headers is x, x-epoch or ietf, got \"\(headers)\"")
        }
        configuration.headerStyle = style
        guard let l = ProviderSimulatorConfiguration.parseLatency(latency) else {
            throw ValidationError("--latency takes 50ms or 20ms-80ms, got \"\(latency)\"")
        }
        configuration.latency = l
        guard (0...1).contains(errorRate) else { throw ValidationError("--error-rate is between 0 and 1") }
        configuration.errorRate = errorRate
        guard maxBars > 0 else { throw ValidationError("--max-bars must be positive") }
        configuration.maxBarsPerResponse = maxBars
        let host = configuration.host
        let (app, _) = buildProviderSimulator(
            configuration: configuration,
            onListening: { port in printListening("preflight provider-sim", host: host, port: port) },
            logger: makeLogger()
        )
        try await app.runService()
    }
}

struct Baseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a backfill of N symbols against the provider simulator, sequential vs parallel.",
        discussion: """
            Prints where the time goes (provider calls, database writes, rate limiter) and writes baseline.json.
            Example:
              preflight baseline --symbols 30 --out reports
            """
    )

    @Option(help: "Symbols to backfill (two years each).")
    var symbols = 30

    @Option(help: "Provider latency: 50ms (fixed) or 25ms-75ms (uniform).")
    var latency = "25ms-75ms"

    @Option(help: "Provider rate limit, like 20/1s.")
    var rateLimit = "20/1s"

    @Option(help: "Symbols at once in parallel mode.")
    var maxConcurrentSymbols = 3

    @Option(help: "Folder for the baseline-<timestamp> folder.")
    var out = "reports"

    func run() async throws {
        var options = BackfillBaseline.Options()
        guard symbols >= 1 else { throw ValidationError("--symbols must be at least 1") }
        options.symbols = symbols
        guard let l = ProviderSimulatorConfiguration.parseLatency(latency) else {
            throw ValidationError("--latency takes 50ms or 25ms-75ms, got \"\(latency)\"")
        }
        options.latency = l
        guard let limit = ProviderSimulatorConfiguration.parseRateLimit(rateLimit) ?? nil else {
            throw ValidationError("--rate-limit takes COUNT/WINDOW like 20/1s, got \"\(rateLimit)\"")
        }
        options.rateLimit = limit
        options.maxConcurrentSymbols = max(1, maxConcurrentSymbols)
        let result = try await BackfillBaseline.run(options, logger: makeLogger())
        print(BackfillBaseline.describe(result))
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let folder = URL(fileURLWithPath: out).appendingPathComponent("baseline-\(f.string(from: Date()))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(result).write(to: folder.appendingPathComponent("baseline.json"), options: .atomic)
        print("report: \(folder.path)/baseline.json")
    }
}

/// SIGINT/SIGTERM: the first stops issuing and lets the run write a partial report; the second exits at once.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    /// `beforeExit` runs on a second signal, before the process exits at once (the demo stops its children there).
    init(control: RunControl, beforeExit: @escaping @Sendable () -> Void = {}) {
        let queue = DispatchQueue(label: "preflight.signals")
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if control.isInterrupted {
                    FileHandle.standardError.write(Data("\nsecond signal: exiting now\n".utf8))
                    beforeExit()
                    exit(ExitStatus.interrupted.rawValue)
                }
                FileHandle.standardError.write(
                    Data("\ninterrupted: stopping, waiting for requests in flight, writing a partial report\n".utf8)
                )
                control.interrupt()
            }
            source.resume()
            return source
        }
    }

    func cancel() { for s in sources { s.cancel() } }
}
