import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MarketData
import Metrics
import Prometheus

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the reference Market Data API (SQLite or PostgreSQL storage, quant features, cache).",
        discussion: """
            Stops gracefully on SIGTERM or SIGINT. Admin routes need --admin-token's bearer token when set.
            With --db postgres://…, several instances share one store behind a load balancer; give --provider to \
            one of them only (each instance with a provider runs its own scheduler). The password comes from \
            PGPASSWORD or the variable --db-password-env names, never from the URL.
            Examples:
              preflight serve --demo-data
              preflight serve --port 0 --db /tmp/api.sqlite --provider http://127.0.0.1:9000 --parallel-backfill
              PGPASSWORD=… preflight serve --port 8001 --db 'postgres://preflight@127.0.0.1:5432/preflight?sslmode=disable'
            """
    )

    @Option(help: "Port on 127.0.0.1 (0 picks a free one).")
    var port = 8000

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(
        help: """
            SQLite database file (created if missing), or postgres://USER@HOST[:PORT]/DB[?schema=S&sslmode=disable|\
            prefer|require&max_connections=N].
            """
    )
    var db = FileManager.default.temporaryDirectory.appendingPathComponent("preflight/market.sqlite").path

    @Option(help: "Environment variable holding the PostgreSQL password (default: PGPASSWORD).")
    var dbPasswordEnv: String?

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

    @Option(help: "Environment variable holding the provider's key, sent as Authorization: Bearer.")
    var providerApiKeyEnv: String?

    @Flag(help: "Backfill several symbols at once, or one at a time (the default, SPEC §10's staged rollout).")
    var backfill: BackfillMode = .sequentialBackfill

    @Option(help: "Symbols backfilled at once in parallel mode.")
    var maxConcurrentSymbols = 3

    @Option(help: "Seconds between periodic backfill runs.")
    var backfillInterval = 3600

    @Option(help: "Calendar days of history to keep complete.")
    var lookbackDays = 730

    @Flag(help: "Serve HTTP/2: over TLS with --tls-cert/--tls-key (ALPN h2, HTTP/1.1 for other clients), else h2c.")
    var http2 = false

    @Option(help: "PEM certificate (chain) to serve TLS with; needs --tls-key.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together: give both to serve TLS, or neither")
        }
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
        let database: StoreLocation
        do {
            database = try StoreLocation(db, passwordVariable: dbPasswordEnv)
        } catch {
            throw ValidationError(error.description)
        }
        var configuration = MarketDataConfiguration(database: database)
        configuration.host = host
        configuration.port = port
        configuration.symbols = symbolList
        configuration.adminToken = adminToken ?? ProcessInfo.processInfo.environment["PREFLIGHT_ADMIN_TOKEN"]
        configuration.demoData = demoData
        configuration.cacheCapacity = cacheSize
        configuration.cacheTTL = .seconds(cacheTTL)
        configuration.providerURL = provider
        configuration.providerAPIKey = try secret(fromVariable: providerApiKeyEnv, option: "--provider-api-key-env")
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
        configuration.served =
            switch (http2, tlsCert, tlsKey) {
            case (false, let cert?, let key?): .http1TLS(certificate: cert, key: key)
            case (true, let cert?, let key?): .http2TLS(certificate: cert, key: key)
            case (true, _, _): .h2c
            default: .http1
            }
        var logger = makeLogger()
        logger[metadataKey: "service"] = "market-data"
        // One registry for the API's own metrics and anything reporting through swift-metrics; `/metrics` shows it.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let host = configuration.host
        logger.info("opening the store", metadata: ["store.location": "\(database.description)"])
        try await withMarketStore(database, logger: logger) { [configuration, logger] store in
            let app = try await buildMarketDataApplication(
                configuration: configuration,
                store: store,
                metrics: APIMetrics(registry: registry),
                onListening: { port in
                    printListening(
                        "preflight serve",
                        host: host,
                        port: port,
                        scheme: configuration.served.scheme,
                        note: configuration.served.note
                    )
                },
                logger: logger
            )
            try await app.runService()
        }
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

    @Option(help: "Require the key in this environment variable (Authorization: Bearer or ?apiKey=); 401 otherwise.")
    var apiKeyEnv: String?

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
        configuration.apiKey = try secret(fromVariable: apiKeyEnv, option: "--api-key-env")
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
        abstract: "Measure a backfill sample, sequential vs parallel, and project the whole universe's backfill.",
        discussion: """
            Against the in-process provider simulator by default, or against a real Polygon-style provider with \
            --provider (then --max-requests is required: a hard budget of requests, split evenly between the \
            modes; the key is read from the environment variable --api-key-env names and sent as \
            Authorization: Bearer, never printed or written). Prints where the time goes (provider calls, rate \
            limiter, backoff, database writes), the bottleneck and the projection, and writes baseline.json.
            Examples:
              preflight baseline --symbols 30 --out reports
              POLYGON_KEY=… preflight baseline --provider https://api.polygon.io --api-key-env POLYGON_KEY \\
                  --max-requests 40 --rate-limit 5/1m --universe universe.csv --symbols 4 --mode sequential
            """
    )

    @Option(help: "Symbols in the sample (two years each by default).")
    var symbols = 30

    @Option(help: "A real provider's base URL (Polygon-style aggregates); default: the in-process simulator.")
    var provider: String?

    @Option(help: "Environment variable holding the provider's key (never give the key itself on the command line).")
    var apiKeyEnv: String?

    @Option(help: "Hard budget: at most this many requests reach the provider (required with --provider).")
    var maxRequests: Int?

    @Option(help: "Symbols file (a `symbol` column or one per line): the sample is its first --symbols.")
    var universe: String?

    @Option(help: "Symbols the projection is for (default: the --universe file's count, else the sample's).")
    var universeSize: Int?

    @Option(help: "sequential, parallel or both.")
    var mode = "both"

    @Option(help: "Simulator latency: 50ms (fixed) or 25ms-75ms (uniform).")
    var latency = "25ms-75ms"

    @Option(help: "The simulator's rate limit (default 20/1s), or the provider's when known (else learned).")
    var rateLimit: String?

    @Option(help: "Symbols at once in parallel mode.")
    var maxConcurrentSymbols = 3

    @Option(help: "Calendar days of history per symbol.")
    var lookbackDays = 730

    @Option(help: "Folder for the baseline-<timestamp> folder.")
    var out = "reports"

    func validate() throws {
        guard symbols >= 1 else { throw ValidationError("--symbols must be at least 1") }
        guard maxConcurrentSymbols >= 1 else { throw ValidationError("--max-concurrent-symbols must be at least 1") }
        guard (1...36_500).contains(lookbackDays) else { throw ValidationError("--lookback-days is 1 to 36500") }
        guard ["sequential", "parallel", "both"].contains(mode) else {
            throw ValidationError("--mode is sequential, parallel or both, got \"\(mode)\"")
        }
        if let maxRequests, maxRequests < 1 { throw ValidationError("--max-requests must be at least 1") }
        if let universeSize, universeSize < 1 { throw ValidationError("--universe-size must be at least 1") }
        if let provider {
            guard let url = URL(string: provider), ["http", "https"].contains(url.scheme ?? ""), url.host != nil
            else { throw ValidationError("--provider takes a base URL like https://api.polygon.io") }
            guard url.user == nil && url.password == nil else {
                throw ValidationError(
                    "--provider must not hold credentials; name the key's variable with --api-key-env"
                )
            }
            guard maxRequests != nil else {
                throw ValidationError(
                    "--provider needs --max-requests N: a hard budget, so a baseline never spends more of your quota"
                )
            }
            guard universe != nil else {
                throw ValidationError("--provider needs --universe FILE: the symbols the provider knows")
            }
        } else if apiKeyEnv != nil {
            throw ValidationError("--api-key-env is for --provider; the simulator needs no key")
        }
    }

    func run() async throws {
        var options = BackfillBaseline.Options()
        options.symbols = symbols
        options.maxConcurrentSymbols = maxConcurrentSymbols
        options.lookbackDays = lookbackDays
        options.modes = mode == "both" ? BackfillBaseline.Mode.allCases : [BackfillBaseline.Mode(rawValue: mode)!]
        options.maxRequests = maxRequests
        options.provider = provider
        options.apiKey = try secret(fromVariable: apiKeyEnv, option: "--api-key-env")
        if let universe {
            let text: String
            do { text = try String(contentsOfFile: universe, encoding: .utf8) } catch {
                throw ValidationError("--universe \(universe): cannot read it (\(error.localizedDescription))")
            }
            let list = Self.symbols(in: text)
            guard !list.isEmpty else { throw ValidationError("--universe \(universe) holds no symbols") }
            options.symbolList = list
            options.universeSize = list.count
        }
        if let universeSize { options.universeSize = universeSize }
        if provider == nil {
            guard let l = ProviderSimulatorConfiguration.parseLatency(latency) else {
                throw ValidationError("--latency takes 50ms or 25ms-75ms, got \"\(latency)\"")
            }
            options.latency = l
        }
        let limitText = rateLimit ?? (provider == nil ? "20/1s" : nil)
        if let limitText {
            guard let limit = ProviderSimulatorConfiguration.parseRateLimit(limitText) ?? nil else {
                throw ValidationError("--rate-limit takes COUNT/WINDOW like 20/1s or 5/1m, got \"\(limitText)\"")
            }
            options.rateLimit = limit
        } else {
            options.rateLimit = nil
        }
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
        // A baseline that completed no symbol measured nothing worth a projection.
        if [result.sequential, result.parallel].compactMap({ $0 }).allSatisfy({ $0.symbolsCompleted == 0 }) {
            FileHandle.standardError.write(Data("baseline: no symbol was completed; see the reasons above\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The symbols of a universe file: a CSV's `symbol` column, or one symbol per line.
    static func symbols(in text: String) -> [String] {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let header = lines.first else { return [] }
        let columns = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let column = columns.firstIndex(of: "symbol") {
            return lines.dropFirst().compactMap { line in
                let cells = line.split(separator: ",", omittingEmptySubsequences: false)
                return column < cells.count ? cells[column].trimmingCharacters(in: .whitespaces) : nil
            }.filter { !$0.isEmpty }
        }
        return lines.filter { !$0.isEmpty }
    }
}

/// A key named by an `--…-env NAME` option: read from the environment, never taken on the command line (where
/// `ps` and shell history would show it); nil when the option is not given.
func secret(fromVariable name: String?, option: String) throws -> String? {
    guard let name else { return nil }
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw ValidationError("\(option) \(name): the environment variable \(name) is not set or empty")
    }
    return value
}
