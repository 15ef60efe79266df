import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MarketData
import Metrics
import Prometheus

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

    @Flag(help: "Backfill several symbols at once, or one at a time (the default, SPEC §10's staged rollout).")
    var backfill: BackfillMode = .sequentialBackfill

    @Option(help: "Symbols backfilled at once in parallel mode.")
    var maxConcurrentSymbols = 3

    @Option(help: "Seconds between periodic backfill runs.")
    var backfillInterval = 3600

    @Option(help: "Calendar days of history to keep complete.")
    var lookbackDays = 730

    func validate() throws {
        guard maxConcurrentSymbols >= 1 else { throw ValidationError("--max-concurrent-symbols must be at least 1") }
        guard
            symbolList.allSatisfy({
                $0.range(of: #"^[A-Z][A-Z0-9.\-]{0,14}$"#, options: .regularExpression) != nil
            })
        else { throw ValidationError("--symbols must be symbols like AAPL,BRK.B (^[A-Z][A-Z0-9.-]{0,14}$)") }
    }

    private var symbolList: [String] {
        symbols.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func run() async throws {
        var configuration = MarketDataConfiguration(databasePath: db)
        configuration.host = host
        configuration.port = port
        configuration.symbols = symbolList
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
        configuration.backfill.parallel = backfill == .parallelBackfill
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
    var window = ProviderSimulatorConfiguration.RateLimitWindow.fixed

    @Option(help: "Rate-limit headers: x (Reset as seconds), x-epoch (Reset as epoch), ietf (RateLimit fields).")
    var headers = ProviderSimulatorConfiguration.HeaderStyle.x

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
        configuration.rateLimitWindow = window
        configuration.headerStyle = headers
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
