import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `preflight baseline`: backfills a sample of symbols into fresh databases, sequentially and then in parallel,
/// attributes the time (provider calls, rate-limit waits, backoff, database writes), names the bottleneck and
/// projects the whole universe's backfill from the sample. Against the in-process provider simulator by default,
/// or against a real Polygon-style provider (`--provider URL`) under a hard request budget.
public enum BackfillBaseline {
    public enum Mode: String, Sendable, Codable, CaseIterable { case sequential, parallel }

    public struct Options: Sendable {
        /// Symbols in the sample.
        public var symbols = 30
        /// The sample's symbols (the first `symbols` of them); generated names against the simulator when nil.
        public var symbolList: [String]?
        /// Symbols the projection is for; the sample's size when nil.
        public var universeSize: Int?
        public var lookbackDays = 730
        /// The simulator's latency (ignored with `provider`).
        public var latency = ProviderSimulatorConfiguration.Latency.uniform(.milliseconds(25), .milliseconds(75))
        /// The simulator's rate limit; with `provider`, the provider's limit when known (nil: learned from headers).
        public var rateLimit: (count: Int, window: Duration)? = (20, .seconds(1))
        public var maxConcurrentSymbols = 3
        public var chunkDays = 100
        public var seed: UInt64 = 1
        /// A real provider's base URL; nil runs the in-process simulator.
        public var provider: String?
        /// The provider's key (read from the environment by the command; never printed or stored).
        public var apiKey: String?
        /// At most this many requests reach the provider over the whole baseline, split evenly between the modes.
        public var maxRequests: Int?
        public var modes: [Mode] = Mode.allCases
        public var timeout: Duration = .seconds(10)

        public init() {}
    }

    /// The whole universe's backfill, extrapolated from the sample.
    public struct Projection: Sendable, Codable {
        public var universe: Int
        /// Requests per completed symbol in the sample.
        public var requestsPerSymbol: Double
        public var requests: Int
        /// Requests × this mode's measured seconds per request.
        public var measuredRateSeconds: Double
        /// Requests ÷ the provider's rate limit (learned or given); nil when no limit is known.
        public var rateLimitBoundSeconds: Double?
        /// The larger of the two: what to expect.
        public var seconds: Double
        public var hours: Double
    }

    public struct ModeResult: Sendable, Codable {
        public var mode: String
        public var wallSeconds: Double
        public var requests: Int
        public var barsWritten: Int
        public var rateLimitHits: Int
        /// Symbols fully backfilled / attempted (a spent budget leaves the rest undone).
        public var symbolsCompleted: Int
        public var symbolsAttempted: Int
        /// Why the other symbols were not completed, with how many symbols each.
        public var unfinished: [String: Int]
        /// Requests per completed symbol (nil when none completed).
        public var requestsPerSymbol: Double?
        /// Summed over symbols (in parallel mode these overlap, so they can exceed the wall time).
        public var providerSeconds: Double
        public var databaseSeconds: Double
        public var rateLimiterSeconds: Double
        /// Backoff waits after 429s, 5xx and timeouts.
        public var backoffSeconds: Double
        /// Requests needed ÷ allowed rate: no schedule can be faster (0 when no limit is known).
        public var rateLimitBoundSeconds: Double
        /// The rate limit in force at the end (configured or learned), as `COUNT/SECONDSs`.
        public var rateLimit: String?
        public var bottleneck: String
        public var projection: Projection?
    }

    public struct Result: Sendable, Codable {
        /// `simulator` or the provider's base URL.
        public var provider: String
        public var symbols: Int
        /// Calendar days of history each symbol is backfilled over (`--lookback-days`).
        public var lookbackDays: Int
        public var latency: String
        public var rateLimit: String
        public var maxConcurrentSymbols: Int
        public var maxRequests: Int?
        /// Requests that reached the provider (never more than `maxRequests`).
        public var requestsSent: Int
        public var sequential: ModeResult?
        public var parallel: ModeResult?
        /// Sequential wall time ÷ parallel wall time (both modes over the same sample).
        public var parallelSpeedup: Double?
    }

    public static func run(_ options: Options, logger: Logger) async throws -> Result {
        let symbols = Array(
            (options.symbolList ?? (0..<options.symbols).map { String(format: "BASE%03d", $0) }).prefix(options.symbols)
        )
        let modes = options.modes.isEmpty ? Mode.allCases : options.modes
        var results: [Mode: ModeResult] = [:]
        var sent = 0
        for (i, mode) in modes.enumerated() {
            // The budget left is shared by the modes still to run.
            let budget = options.maxRequests.map { ($0 - sent) / (modes.count - i) }
            let (result, used) = try await measure(
                mode,
                symbols: symbols,
                budget: budget,
                options: options,
                logger: logger
            )
            results[mode] = result
            sent += used
        }
        // The projection: a mode that completed no symbol (a small budget spread over parallel symbols) borrows
        // the other mode's requests per symbol; its own pace still counts.
        let perSymbol = results.values.compactMap(\.requestsPerSymbol).first
        for (mode, result) in results {
            results[mode]?.projection = project(
                result,
                requestsPerSymbol: result.requestsPerSymbol ?? perSymbol,
                universe: options.universeSize ?? symbols.count
            )
        }
        let latency: String =
            if options.provider != nil { "measured" } else {
                switch options.latency {
                case .none: "none"
                case .fixed(let d): "\(Int(d.seconds * 1000))ms"
                case .uniform(let a, let b): "\(Int(a.seconds * 1000))ms-\(Int(b.seconds * 1000))ms"
                }
            }
        let speedup: Double? =
            if let s = results[.sequential], let p = results[.parallel], p.wallSeconds > 0,
                s.symbolsCompleted == p.symbolsCompleted
            {
                s.wallSeconds / p.wallSeconds
            } else { nil }
        return Result(
            provider: options.provider ?? "simulator",
            symbols: symbols.count,
            lookbackDays: options.lookbackDays,
            latency: latency,
            rateLimit: options.rateLimit.map { "\($0.count)/\($0.window.seconds)s" } ?? "learned",
            maxConcurrentSymbols: options.maxConcurrentSymbols,
            maxRequests: options.maxRequests,
            requestsSent: sent,
            sequential: results[.sequential],
            parallel: results[.parallel],
            parallelSpeedup: speedup
        )
    }

    /// One backfill into a fresh database, against a fresh simulator or the provider; returns the requests sent.
    static func measure(
        _ mode: Mode,
        symbols: [String],
        budget: Int?,
        options: Options,
        logger: Logger
    ) async throws -> (ModeResult, Int) {
        var quiet = logger
        quiet.logLevel = .warning
        if let provider = options.provider {
            return try await backfill(
                mode,
                baseURL: provider,
                symbols: symbols,
                budget: budget,
                options: options,
                logger: quiet
            )
        }
        var sim = ProviderSimulatorConfiguration()
        sim.port = 0
        sim.seed = options.seed
        sim.rateLimit = options.rateLimit
        sim.latency = options.latency
        sim.maxBarsPerResponse = max(120, options.chunkDays)
        let state = ProviderSimulatorState(configuration: sim)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: buildProviderSimulatorRouter(state),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "provider-sim"),
            onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) },
            logger: quiet
        )
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: quiet)
        return try await withThrowingTaskGroup(of: (ModeResult, Int)?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let measured = try await backfill(
                mode,
                baseURL: "http://127.0.0.1:\(port)",
                symbols: symbols,
                budget: budget,
                options: options,
                logger: quiet
            )
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return measured
        }
    }

    static func backfill(
        _ mode: Mode,
        baseURL: String,
        symbols: [String],
        budget: Int?,
        options: Options,
        logger: Logger
    ) async throws -> (ModeResult, Int) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "preflight-baseline-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try MarketStore(path: folder.appendingPathComponent("market.sqlite").path)
        let http = HTTPProviderTransport(baseURL: baseURL, apiKey: options.apiKey)
        let budgeted = BudgetedTransport(http, limit: budget ?? Int.max)
        let client = ProviderClient(
            transport: budgeted,
            limiter: RateLimiter(limit: options.rateLimit?.count, window: options.rateLimit?.window),
            timeout: options.timeout,
            random: SharedRandom(seed: options.seed),
            onRateLimit: { try? await store.recordRateLimit($0) },
            logger: logger
        )
        var configuration = BackfillConfiguration(symbols: symbols)
        configuration.parallel = mode == .parallel
        configuration.maxConcurrentSymbols = options.maxConcurrentSymbols
        configuration.lookbackDays = options.lookbackDays
        configuration.chunkDays = options.chunkDays
        let scheduler = AutoBackfillScheduler(
            store: store,
            client: client,
            configuration: configuration,
            logger: logger
        )
        let start = ContinuousClock.now
        let run = try await scheduler.runOnce()
        let wall = (ContinuousClock.now - start).seconds
        let outcomes = run?.outcomes ?? []
        let provider = outcomes.reduce(Duration.zero) { $0 + $1.providerTime }.seconds
        let database = outcomes.reduce(Duration.zero) { $0 + $1.databaseTime }.seconds
        let limiterWait = outcomes.reduce(Duration.zero) { $0 + $1.limiterWait }.seconds
        let backoff = outcomes.reduce(Duration.zero) { $0 + $1.backoffWait }.seconds
        let requests = outcomes.reduce(0) { $0 + $1.requests }
        let completed = outcomes.filter { $0.state == .done }
        let learned = await client.limiter.state
        let rate: Double? =
            if let limit = learned.limit, let window = learned.window, window > .zero {
                Double(limit) / window.seconds
            } else { nil }
        let shares = [
            ("provider calls", provider), ("database writes", database), ("rate limiter", limiterWait),
            ("backoff after errors", backoff),
        ]
        var unfinished: [String: Int] = [:]
        for outcome in outcomes where outcome.state != .done {
            let reason =
                switch outcome.state {
                case .failed(let why): why
                case .unknownSymbol: "unknown symbol at the provider"
                case .providerRefused(let status): "the provider refused us (HTTP \(status)); check the key"
                default: "\(outcome.state)"
                }
            unfinished[reason, default: 0] += 1
        }
        let result = ModeResult(
            mode: mode.rawValue,
            wallSeconds: wall,
            requests: requests,
            barsWritten: outcomes.reduce(0) { $0 + $1.barsWritten },
            rateLimitHits: outcomes.reduce(0) { $0 + $1.rateLimitHits },
            symbolsCompleted: completed.count,
            symbolsAttempted: outcomes.count,
            unfinished: unfinished,
            requestsPerSymbol: completed.isEmpty
                ? nil : Double(completed.reduce(0) { $0 + $1.requests }) / Double(completed.count),
            providerSeconds: provider,
            databaseSeconds: database,
            rateLimiterSeconds: limiterWait,
            backoffSeconds: backoff,
            rateLimitBoundSeconds: rate.map { Double(requests) / $0 } ?? 0,
            rateLimit: learned.limit.flatMap { l in learned.window.map { "\(l)/\($0.seconds)s" } },
            bottleneck: shares.max { $0.1 < $1.1 }!.0,
            projection: nil
        )
        return (result, budgeted.sent)
    }

    /// The universe's backfill from a mode's measured pace (wall seconds per request) and the rate-limit bound
    /// (requests ÷ the limit learned or given), whichever is longer; nil without requests or a per-symbol count.
    static func project(_ m: ModeResult, requestsPerSymbol: Double?, universe: Int) -> Projection? {
        guard let perSymbol = requestsPerSymbol, m.requests > 0, m.wallSeconds > 0 else { return nil }
        let total = Int((perSymbol * Double(universe)).rounded(.up))
        let measured = Double(total) * m.wallSeconds / Double(m.requests)
        let bound = m.rateLimitBoundSeconds > 0 ? Double(total) * m.rateLimitBoundSeconds / Double(m.requests) : nil
        let seconds = max(measured, bound ?? 0)
        return Projection(
            universe: universe,
            requestsPerSymbol: perSymbol,
            requests: total,
            measuredRateSeconds: measured,
            rateLimitBoundSeconds: bound,
            seconds: seconds,
            hours: seconds / 3600
        )
    }

    /// A few lines for people.
    public static func describe(_ r: Result) -> String {
        func line(_ m: ModeResult) -> String {
            var text =
                m.mode.padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(
                    format:
                        "wall %6.2fs  requests %4d  bars %6d  429s %3d  provider %6.2fs  database %5.2fs  limiter %6.2fs  backoff %5.2fs  bound %5.2fs",
                    m.wallSeconds,
                    m.requests,
                    m.barsWritten,
                    m.rateLimitHits,
                    m.providerSeconds,
                    m.databaseSeconds,
                    m.rateLimiterSeconds,
                    m.backoffSeconds,
                    m.rateLimitBoundSeconds
                ) + "  → bottleneck: " + m.bottleneck
            if m.symbolsCompleted < m.symbolsAttempted {
                let why = m.unfinished.sorted { $0.value > $1.value }.map { "\($0.value) × \($0.key)" }
                text +=
                    "\n           \(m.symbolsCompleted) of \(m.symbolsAttempted) symbols completed; the rest: "
                    + why.joined(separator: ", ")
            }
            if let p = m.projection {
                text += String(
                    format: "\n           projection for %d symbols: %d requests (%.1f per symbol), %@",
                    p.universe,
                    p.requests,
                    p.requestsPerSymbol,
                    HumanDuration.text(p.seconds)
                )
                text +=
                    p.rateLimitBoundSeconds.map {
                        String(
                            format: " (measured pace %@, rate-limit bound %@)",
                            HumanDuration.text(p.measuredRateSeconds),
                            HumanDuration.text($0)
                        )
                    } ?? " (measured pace; no rate limit known)"
            }
            return text
        }
        var lines = [
            "backfill baseline: \(r.symbols) symbols × \(r.lookbackDays) days from \(r.provider), provider latency "
                + "\(r.latency), "
                + "rate limit \(r.rateLimit), \(r.maxConcurrentSymbols) symbols at once in parallel mode"
                + (r.maxRequests.map { ", budget \($0) requests (\(r.requestsSent) sent)" } ?? "")
        ]
        lines += [r.sequential, r.parallel].compactMap { $0.map(line) }
        if let speedup = r.parallelSpeedup, let p = r.parallel {
            lines.append(
                String(format: "parallel speedup %.2f×", speedup)
                    + (p.rateLimitBoundSeconds > 0
                        ? String(
                            format: "; parallel wall time is %.0f%% of the rate-limit bound",
                            100 * p.wallSeconds / p.rateLimitBoundSeconds
                        ) : "")
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// Durations for people: seconds, minutes or hours.
enum HumanDuration {
    static func text(_ seconds: Double) -> String {
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        if seconds < 7200 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.2f h", seconds / 3600)
    }
}
