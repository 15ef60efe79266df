import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `preflight baseline`: backfills N symbols from the provider simulator into fresh databases, sequentially and
/// then in parallel, and attributes the time: provider calls, database writes, rate-limiter waits.
public enum BackfillBaseline {
    public struct Options: Sendable {
        public var symbols = 30
        public var lookbackDays = 730
        public var latency = ProviderSimulatorConfiguration.Latency.uniform(.milliseconds(25), .milliseconds(75))
        public var rateLimit: (count: Int, window: Duration) = (20, .seconds(1))
        public var maxConcurrentSymbols = 3
        public var chunkDays = 100
        public var seed: UInt64 = 1

        public init() {}
    }

    public struct ModeResult: Sendable, Codable {
        public var mode: String
        public var wallSeconds: Double
        public var requests: Int
        public var barsWritten: Int
        public var rateLimitHits: Int
        /// Summed over symbols (in parallel mode these overlap, so they can exceed the wall time).
        public var providerSeconds: Double
        public var databaseSeconds: Double
        public var rateLimiterSeconds: Double
        /// Requests needed ÷ allowed rate: no schedule can be faster.
        public var rateLimitBoundSeconds: Double
        public var bottleneck: String
    }

    public struct Result: Sendable, Codable {
        public var symbols: Int
        public var latency: String
        public var rateLimit: String
        public var maxConcurrentSymbols: Int
        public var sequential: ModeResult
        public var parallel: ModeResult
        /// Sequential wall time ÷ parallel wall time.
        public var parallelSpeedup: Double
    }

    public static func run(_ options: Options, logger: Logger) async throws -> Result {
        let symbols = (0..<options.symbols).map { String(format: "BASE%03d", $0) }
        let sequential = try await measure(
            "sequential",
            parallel: false,
            symbols: symbols,
            options: options,
            logger: logger
        )
        let parallel = try await measure("parallel", parallel: true, symbols: symbols, options: options, logger: logger)
        let latency: String =
            switch options.latency {
            case .none: "none"
            case .fixed(let d): "\(Int(d.seconds * 1000))ms"
            case .uniform(let a, let b): "\(Int(a.seconds * 1000))ms-\(Int(b.seconds * 1000))ms"
            }
        return Result(
            symbols: options.symbols,
            latency: latency,
            rateLimit: "\(options.rateLimit.count)/\(options.rateLimit.window.seconds)s",
            maxConcurrentSymbols: options.maxConcurrentSymbols,
            sequential: sequential,
            parallel: parallel,
            parallelSpeedup: parallel.wallSeconds > 0 ? sequential.wallSeconds / parallel.wallSeconds : 0
        )
    }

    /// One backfill into a fresh database against a fresh simulator.
    static func measure(
        _ mode: String,
        parallel: Bool,
        symbols: [String],
        options: Options,
        logger: Logger
    ) async throws -> ModeResult {
        var sim = ProviderSimulatorConfiguration()
        sim.port = 0
        sim.seed = options.seed
        sim.rateLimit = options.rateLimit
        sim.latency = options.latency
        sim.maxBarsPerResponse = max(120, options.chunkDays)
        var quiet = logger
        quiet.logLevel = .warning
        let state = ProviderSimulatorState(configuration: sim)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: buildProviderSimulatorRouter(state),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "provider-sim"),
            onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) },
            logger: quiet
        )
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: quiet)
        return try await withThrowingTaskGroup(of: ModeResult?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "preflight-baseline-\(UUID().uuidString)"
            )
            defer { try? FileManager.default.removeItem(at: folder) }
            let store = try MarketStore(path: folder.appendingPathComponent("market.sqlite").path)
            let client = ProviderClient(
                transport: HTTPProviderTransport(baseURL: "http://127.0.0.1:\(port)"),
                limiter: RateLimiter(limit: options.rateLimit.count, window: options.rateLimit.window),
                random: SharedRandom(seed: options.seed),
                onRateLimit: { try? await store.recordRateLimit($0) },
                logger: quiet
            )
            var configuration = BackfillConfiguration(symbols: symbols)
            configuration.parallel = parallel
            configuration.maxConcurrentSymbols = options.maxConcurrentSymbols
            configuration.lookbackDays = options.lookbackDays
            configuration.chunkDays = options.chunkDays
            let scheduler = AutoBackfillScheduler(
                store: store,
                client: client,
                configuration: configuration,
                logger: quiet
            )
            let start = ContinuousClock.now
            let run = try await scheduler.runOnce()
            let wall = (ContinuousClock.now - start).seconds
            await group.triggerGracefulShutdown()
            let outcomes = run?.outcomes ?? []
            let provider = outcomes.reduce(Duration.zero) { $0 + $1.providerTime }.seconds
            let database = outcomes.reduce(Duration.zero) { $0 + $1.databaseTime }.seconds
            let limiter = outcomes.reduce(Duration.zero) { $0 + $1.limiterWait }.seconds
            let requests = outcomes.reduce(0) { $0 + $1.requests }
            let shares = [("provider calls", provider), ("database writes", database), ("rate limiter", limiter)]
            let result = ModeResult(
                mode: mode,
                wallSeconds: wall,
                requests: requests,
                barsWritten: outcomes.reduce(0) { $0 + $1.barsWritten },
                rateLimitHits: outcomes.reduce(0) { $0 + $1.rateLimitHits },
                providerSeconds: provider,
                databaseSeconds: database,
                rateLimiterSeconds: limiter,
                rateLimitBoundSeconds: Double(requests) / Double(options.rateLimit.count)
                    * options.rateLimit.window.seconds,
                bottleneck: shares.max { $0.1 < $1.1 }!.0
            )
            for try await _ in tasks {}
            return result
        }
    }

    /// A few lines for people.
    public static func describe(_ r: Result) -> String {
        func line(_ m: ModeResult) -> String {
            m.mode.padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(
                    format:
                        "wall %6.2fs  requests %4d  bars %6d  429s %3d  provider %6.2fs  database %5.2fs  limiter %6.2fs  bound %5.2fs",
                    m.wallSeconds,
                    m.requests,
                    m.barsWritten,
                    m.rateLimitHits,
                    m.providerSeconds,
                    m.databaseSeconds,
                    m.rateLimiterSeconds,
                    m.rateLimitBoundSeconds
                ) + "  → bottleneck: " + m.bottleneck
        }
        return [
            "backfill baseline: \(r.symbols) symbols × 2 years, provider latency \(r.latency), rate limit \(r.rateLimit), "
                + "\(r.maxConcurrentSymbols) symbols at once in parallel mode",
            line(r.sequential),
            line(r.parallel),
            String(
                format: "parallel speedup %.2f×; parallel wall time is %.0f%% of the rate-limit bound",
                r.parallelSpeedup,
                r.parallel.rateLimitBoundSeconds > 0
                    ? 100 * r.parallel.wallSeconds / r.parallel.rateLimitBoundSeconds : 0
            ),
        ].joined(separator: "\n")
    }
}
