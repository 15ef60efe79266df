import Foundation
import Logging
import ServiceLifecycle

/// What the scheduler backfills, and how.
public struct BackfillConfiguration: Sendable {
    public var symbols: [String]
    /// Calendar days to look back (two years by default).
    public var lookbackDays = 730
    /// Trading days per provider request at most.
    public var chunkDays = 100
    /// Several symbols at once, or one after another (the default: the seed's staged rollout switches the parallel
    /// optimisation on explicitly, SPEC §10).
    public var parallel = false
    public var maxConcurrentSymbols = 3
    /// Time between periodic runs; a run never overlaps the previous one.
    public var interval: Duration = .seconds(3600)
    /// How long a 401/403 pauses the provider.
    public var pauseOnRefusal: Duration = .seconds(900)

    public init(symbols: [String]) { self.symbols = symbols }
}

/// Keeps stored bars complete: finds each symbol's missing trading days over the lookback, fetches them from the
/// provider in chunks (newest first), and stores bars and status together. Runs periodically as a ServiceLifecycle
/// `Service`, or on demand (`POST /api/v1/admin/backfill`).
public actor AutoBackfillScheduler: Service {
    public enum RunState: String, Sendable, Codable { case idle, running, paused }

    /// How one symbol went.
    public struct SymbolOutcome: Sendable {
        public var symbol: String
        public var state: BackfillJob.State
        public var requests = 0
        public var barsWritten = 0
        public var rateLimitHits = 0
        public var rejectedBars = 0
        public var providerTime: Duration = .zero
        public var databaseTime: Duration = .zero
        public var limiterWait: Duration = .zero
        /// Backoff waits between attempts (after 429s, 5xx, timeouts).
        public var backoffWait: Duration = .zero

        /// Why the symbol is not done, for its status row and its run's; nil when it is.
        var error: String? {
            switch state {
            case .done: nil
            case .unknownSymbol: "unknown symbol at the provider"
            case .providerRefused(let s): "provider refused us (HTTP \(s))"
            case .failed(let reason): reason
            default: "\(state)"
            }
        }

        /// The symbol's row in its run (`backfill_run_symbols`).
        var runRow: MarketStore.RunSymbolRow {
            let name =
                switch state {
                case .done: "done"
                case .unknownSymbol: "unknown_symbol"
                case .providerRefused: "provider_refused"
                default: "failed"
                }
            return MarketStore.RunSymbolRow(
                symbol: symbol,
                state: name,
                requests: requests,
                barsWritten: barsWritten,
                rateLimitHits: rateLimitHits,
                error: error
            )
        }
    }

    public let store: MarketStore
    public let client: ProviderClient
    public let configuration: BackfillConfiguration
    let metrics: APIMetrics?
    let logger: Logger
    let today: @Sendable () -> TradingCalendar.Day
    let calendar = TradingCalendar()

    public private(set) var state = RunState.idle
    public private(set) var lastRun: MarketStore.RunRow?
    public private(set) var lastSuccess: Date?
    public private(set) var consecutiveFailures = 0
    public private(set) var inFlight: Set<String> = []
    public private(set) var maxInFlight = 0
    private var pausedUntil: ContinuousClock.Instant?
    private var pausedUntilDate: Date?
    /// When the periodic loop starts the next run.
    private var nextRunAt: Date?
    /// Rung by `trigger()`: the periodic loop starts the next run at once.
    private let wakeup = Wakeup()
    /// The run a trigger reserved (a `queued` row), which the next run takes over; at most one waits.
    private var queuedRun: Int64?
    /// Triggers waiting for a reservation another trigger is writing (so two triggers reserve one run).
    private var reserving: [CheckedContinuation<Int64, any Error>]?
    private var restored = false

    public init(
        store: MarketStore,
        client: ProviderClient,
        configuration: BackfillConfiguration,
        metrics: APIMetrics? = nil,
        logger: Logger,
        today: @escaping @Sendable () -> TradingCalendar.Day = { TradingCalendar.Day.today() }
    ) {
        self.store = store
        // Every attempt is recorded in `backfill_attempts` and counted in `/metrics`, whoever built the client.
        var client = client
        let forward = client.onAttempt
        client.onAttempt = { attempt in
            await forward(attempt)
            // Recorded even when a shutdown cancelled the attempt: the row says what was sent.
            do { try await uncancelled { try await store.recordAttempt(attempt) } } catch {
                logger.warning("cannot record a provider attempt", metadata: ["error": "\(error)"])
            }
            metrics?.providerAttempt(attempt)
        }
        self.client = client
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.today = today
    }

    /// Periodic runs until graceful shutdown; a trigger starts the next run early.
    ///
    /// Graceful shutdown (SIGTERM, SIGINT) cancels the loop: that is the scheduler's normal end, not an error, so
    /// `serve` exits 0 under systemd or Kubernetes. A run in flight is recorded as `interrupted`.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    _ = try? await self.runOnce()
                    let next = ContinuousClock.now + self.configuration.interval
                    await self.setNextRun(Date().addingTimeInterval(self.configuration.interval.seconds))
                    // Until the next run is due, or a trigger queues one (no polling). A ring whose run has
                    // already been taken over by the run just finished starts nothing.
                    while await self.queuedRun == nil {
                        guard await self.wakeup.wait(until: next) else { break }
                    }
                    try Task.checkCancellation()
                }
            }
        } catch is CancellationError {
            // The normal end of a service in graceful shutdown.
        }
        // A run requested but never started says so, so a client polling it is not left waiting.
        if let queued = queuedRun {
            queuedRun = nil
            try? await uncancelled { try await self.store.finishRun(queued, status: "interrupted") }
        }
        logger.notice("backfill scheduler stopped", metadata: ["backfill.reason": "graceful shutdown"])
    }

    private func setNextRun(_ date: Date) { nextRunAt = date }

    /// Asks the periodic loop for a run now and returns its id (`POST /api/v1/admin/backfill`).
    ///
    /// The run is reserved at once as a `queued` row of `backfill_runs`, so the caller can poll it
    /// (`GET backfill/runs/{id}`). Runs never overlap: while one runs, the requested one starts right after it.
    /// Requests coalesce: while a run is queued, another trigger gets the same id (what it asks for — a run that
    /// starts after now — is what that run is).
    public func trigger() async throws -> Int64 {
        if let queuedRun { return queuedRun }
        if reserving != nil {
            return try await withCheckedThrowingContinuation { reserving?.append($0) }
        }
        reserving = []
        let result: Result<Int64, any Error>
        do {
            result = .success(try await store.startRun(symbols: configuration.symbols.count, queued: true))
        } catch {
            result = .failure(error)
        }
        let waiters = reserving ?? []
        reserving = nil
        if case .success(let id) = result {
            queuedRun = id
            wakeup.ring()
        }
        for waiter in waiters { waiter.resume(with: result) }
        return try result.get()
    }

    /// Health survives a restart: the last run, the last success and the failures in a row are read back from
    /// `backfill_runs` once, before the first run or health answer (runs a crash left `running` are skipped).
    func restoreIfNeeded() async {
        guard !restored else { return }
        restored = true
        guard let runs = try? await store.runs(limit: 1000) else { return }
        let finished = runs.filter { MarketStore.finishedRunStatuses.contains($0.status) }
        if lastRun == nil { lastRun = finished.first }
        if lastSuccess == nil {
            lastSuccess = finished.first { $0.status == "ok" }?.finishedAt.flatMap(MarketStore.date)
        }
        if consecutiveFailures == 0 {
            // A run cut short by a shutdown neither failed nor succeeded.
            consecutiveFailures = finished.filter { $0.status != "interrupted" }.prefix { $0.status != "ok" }.count
        }
    }

    /// One run over every symbol; nil when a run is already in progress (runs never overlap).
    @discardableResult
    public func runOnce() async throws -> (run: MarketStore.RunRow, outcomes: [SymbolOutcome])? {
        await restoreIfNeeded()
        guard state != .running else { return nil }
        // A run a trigger reserved becomes this one.
        let reserved = queuedRun
        queuedRun = nil
        if let paused = pausedUntil, paused > .now {
            state = .paused
            // The requested run ends at once, and says why, rather than waiting out the pause unseen.
            if let reserved { try await store.finishRun(reserved, status: "paused") }
            return nil
        }
        state = .running
        pausedUntilDate = nil
        defer { if state == .running { state = .idle } }
        try? await store.pruneAttempts(before: Date().addingTimeInterval(-MarketStore.attemptRetention))
        let symbols = configuration.symbols
        let id: Int64
        if let reserved {
            try await store.beginRun(reserved)
            id = reserved
        } else {
            id = try await store.startRun(symbols: symbols.count)
        }
        let width = configuration.parallel ? max(1, configuration.maxConcurrentSymbols) : 1
        var outcomes: [SymbolOutcome] = []
        await withTaskGroup(of: SymbolOutcome.self) { group in
            var pending = symbols.makeIterator()
            for _ in 0..<width {
                if let s = pending.next() { group.addTask { await self.backfill(s) } }
            }
            for await outcome in group {
                outcomes.append(outcome)
                // A shutdown starts no further symbol; those in flight end on their cancelled calls.
                if !Task.isCancelled, let s = pending.next() { group.addTask { await self.backfill(s) } }
            }
        }
        let failed = outcomes.filter { $0.state != .done }.count
        // Cancelled by a graceful shutdown: the run did not fail, it was cut short.
        let interrupted = Task.isCancelled
        let status =
            interrupted ? "interrupted" : failed == 0 ? "ok" : (failed == outcomes.count ? "failed" : "partial")
        let store = self.store
        let requests = outcomes.reduce(0) { $0 + $1.requests }
        let barsWritten = outcomes.reduce(0) { $0 + $1.barsWritten }
        let rateLimitHits = outcomes.reduce(0) { $0 + $1.rateLimitHits }
        let ok = outcomes.count - failed
        let rows = outcomes.map(\.runRow)
        // The run's row is finished even when the task is cancelled (a cancelled task's database calls throw).
        try await uncancelled {
            try await store.finishRun(
                id,
                status: status,
                ok: ok,
                failed: failed,
                requests: requests,
                barsWritten: barsWritten,
                rateLimitHits: rateLimitHits,
                symbols: rows
            )
        }
        if interrupted {
            // Neither a success nor a failure: the consecutive-failure count stays as it was.
            metrics?.backfillRun(
                status: status,
                barsWritten: barsWritten,
                success: false,
                consecutiveFailures: consecutiveFailures
            )
            logger.info("backfill run interrupted by shutdown", metadata: ["backfill.run": "\(id)"])
            return nil
        }
        if status == "ok" {
            lastSuccess = Date()
            consecutiveFailures = 0
        } else {
            consecutiveFailures += 1
        }
        if let refused = outcomes.first(where: { if case .providerRefused = $0.state { true } else { false } }) {
            pausedUntil = .now + configuration.pauseOnRefusal
            pausedUntilDate = Date().addingTimeInterval(configuration.pauseOnRefusal.seconds)
            logger.error("provider refused us; pausing it", metadata: ["backfill.symbol": "\(refused.symbol)"])
        }
        metrics?.backfillRun(
            status: status,
            barsWritten: outcomes.reduce(0) { $0 + $1.barsWritten },
            success: status == "ok",
            consecutiveFailures: consecutiveFailures
        )
        // By id: a trigger may have queued a newer row meanwhile.
        let run = try await store.run(id)
        lastRun = run
        logger.info(
            "backfill run finished",
            metadata: ["backfill.run": "\(id)", "backfill.status": "\(status)", "backfill.failed": "\(failed)"]
        )
        return run.map { ($0, outcomes) }
    }

    private func enter(_ symbol: String) {
        inFlight.insert(symbol)
        maxInFlight = max(maxInFlight, inFlight.count)
        metrics?.symbolsInFlight(inFlight.count)
    }

    private func leave(_ symbol: String) {
        inFlight.remove(symbol)
        metrics?.symbolsInFlight(inFlight.count)
    }

    /// One symbol: plan its chunks, then drive its job's actions.
    nonisolated func backfill(_ symbol: String) async -> SymbolOutcome {
        await enter(symbol)
        var outcome = SymbolOutcome(symbol: symbol, state: .planned)
        do {
            let end = today()
            let start = end.adding(days: -configuration.lookbackDays)
            let dbStart = ContinuousClock.now
            let stored = try await store.storedDates(symbol, from: start.description)
            outcome.databaseTime += ContinuousClock.now - dbStart
            let chunks = BackfillPlanner.chunks(
                stored: stored,
                from: start,
                to: end,
                chunkDays: configuration.chunkDays
            )
            var job = BackfillJob(symbol: symbol, chunks: chunks)
            var bars: [Bar] = []
            var action = job.start()
            loop: while true {
                switch action {
                case .fetch(let chunk):
                    // What a fetch spent counts also when it failed.
                    var result = FetchResult()
                    let failure: ProviderFailure?
                    do {
                        try await client.fetch(symbol, from: chunk.from, to: chunk.to, into: &result)
                        failure = nil
                    } catch {
                        failure = error
                    }
                    outcome.requests += result.requests
                    outcome.rateLimitHits += result.rateLimitHits
                    outcome.rejectedBars += result.rejected.count
                    outcome.providerTime += result.providerTime
                    outcome.limiterWait += result.limiterWait
                    outcome.backoffWait += result.backoffWait
                    if let failure {
                        action = job.failed(failure)
                    } else {
                        bars = result.bars  // in the chunk's range, one per date: the client saw to it
                        action = job.fetched(bars: bars.count)
                    }
                case .store:
                    let t = ContinuousClock.now
                    outcome.barsWritten += try await store.storeChunk(
                        symbol: symbol,
                        bars: bars,
                        openGaps: job.openGaps,
                        attempts: outcome.requests
                    )
                    outcome.databaseTime += ContinuousClock.now - t
                    action = job.stored()
                case .finish(let final):
                    outcome.state = final
                    break loop
                }
            }
            // When the symbol will be tried again: the next periodic run after a failure, the end of the pause
            // after the provider refused us; never for a symbol the provider does not know.
            let nextRetry: Duration? =
                switch outcome.state {
                case .failed: configuration.interval
                case .providerRefused: configuration.pauseOnRefusal
                default: nil
                }
            try await store.recordSymbolStatus(
                symbol: symbol,
                openGaps: job.openGaps,
                attempts: outcome.requests,
                error: outcome.error,
                nextRetryAt: nextRetry.map { Date().addingTimeInterval($0.seconds) }
            )
        } catch is CancellationError {
            outcome.state = .failed("interrupted by shutdown")
        } catch {
            outcome.state = .failed("storage: \(error)")
            logger.error("backfill failed", metadata: ["backfill.symbol": "\(symbol)", "error": "\(error)"])
        }
        await leave(symbol)
        return outcome
    }

    /// What `GET /api/v1/admin/scheduler-health` shows; the README documents it field by field.
    public struct Health: Sendable, Codable {
        public struct SymbolLag: Sendable, Codable {
            public var symbol: String
            public var newestBar: String?
            /// Trading days between the newest stored bar and today (all of the lookback when none is stored).
            public var lagTradingDays: Int
        }

        /// The provider's rate limit as learned (or configured) and its budget as last announced.
        public struct Budget: Sendable, Codable {
            public var limit: Int?
            public var remaining: Int?
            public var resetSeconds: Double?
            public var windowSeconds: Double?
        }

        /// The retry policy in force.
        public struct Backoff: Sendable, Codable {
            public var baseSeconds: Double
            public var capSeconds: Double
            public var maxAttempts: Int
            public var jitter = "full"
            public var retryOn = ["timeout", "malformed body", "408", "429", "500", "502", "503", "504"]
        }

        /// `ok`, `degraded` or `failing` (`disabled` comes from the route when no scheduler runs).
        public var status: String
        /// Why the status is not `ok`, one sentence each; empty when it is.
        public var reasons: [String]
        public var state: RunState
        public var lastRun: MarketStore.RunRow?
        public var lastSuccessAt: String?
        public var consecutiveFailures: Int
        public var nextRunAt: String?
        public var pausedUntil: String?
        public var symbolsInFlight: Int
        public var maxConcurrentSymbols: Int
        public var parallel: Bool
        public var backoff: Backoff
        public var lastHour: MarketStore.AttemptSummary
        public var symbols: [SymbolLag]
        public var provider: Budget
    }

    /// Trading days missing over the lookback now, per symbol: the lookback's trading days less the bars stored in
    /// it, counted from the bars (not the last run's account), so a bar deleted since the last run shows at once.
    /// One grouped query for every symbol, so the admin endpoint stays cheap with hundreds of symbols.
    public func missingTradingDays() async throws -> [String: Int] {
        let end = today()
        let start = end.adding(days: -configuration.lookbackDays)
        let expected = calendar.tradingDays(from: start, to: end).count
        let stored = try await store.barCounts(from: start.description, to: end.description)
        var missing: [String: Int] = [:]
        for symbol in configuration.symbols { missing[symbol] = max(0, expected - (stored[symbol] ?? 0)) }
        return missing
    }

    public func health() async -> Health {
        await restoreIfNeeded()
        let end = today()
        var lags: [Health.SymbolLag] = []
        for symbol in configuration.symbols {
            let newest = (try? await store.newestBar(symbol)) ?? nil
            let lag: Int
            if let newest, let day = TradingCalendar.Day(newest) {
                lag = max(0, calendar.tradingDays(from: day.adding(days: 1), to: end).count)
            } else {
                lag = calendar.tradingDays(from: end.adding(days: -configuration.lookbackDays), to: end).count
            }
            lags.append(Health.SymbolLag(symbol: symbol, newestBar: newest, lagTradingDays: lag))
        }
        let limiter = await client.limiter.state
        let snapshot = limiter.lastSnapshot
        let lastHour = (try? await store.attemptSummary(since: Date().addingTimeInterval(-3600))) ?? .init()
        let (status, reasons) = Self.judge(
            state: state,
            lastRun: lastRun,
            consecutiveFailures: consecutiveFailures,
            pausedUntil: pausedUntilDate,
            lags: lags
        )
        let policy = client.policy
        return Health(
            status: status,
            reasons: reasons,
            state: state,
            lastRun: lastRun,
            lastSuccessAt: lastSuccess.map { MarketStore.timestamp($0) },
            consecutiveFailures: consecutiveFailures,
            nextRunAt: nextRunAt.map { MarketStore.timestamp($0) },
            pausedUntil: pausedUntilDate.map { MarketStore.timestamp($0) },
            symbolsInFlight: inFlight.count,
            maxConcurrentSymbols: configuration.parallel ? configuration.maxConcurrentSymbols : 1,
            parallel: configuration.parallel,
            backoff: Health.Backoff(
                baseSeconds: policy.base.seconds,
                capSeconds: policy.cap.seconds,
                maxAttempts: policy.maxAttempts
            ),
            lastHour: lastHour,
            symbols: lags,
            provider: Health.Budget(
                limit: limiter.limit,
                remaining: snapshot?.remaining,
                resetSeconds: snapshot?.reset?.seconds,
                windowSeconds: limiter.window?.seconds
            )
        )
    }

    /// The health rule: `failing` when the provider paused us, the last run failed every symbol or 3 runs in a row
    /// failed; `degraded` when the last run left symbols failed or a symbol lags more than one trading day;
    /// otherwise `ok`. Pure, so each reason is tested without a scheduler.
    static func judge(
        state: RunState,
        lastRun: MarketStore.RunRow?,
        consecutiveFailures: Int,
        pausedUntil: Date?,
        lags: [Health.SymbolLag]
    ) -> (status: String, reasons: [String]) {
        var failing: [String] = []
        var degraded: [String] = []
        if state == .paused || pausedUntil.map({ $0 > Date() }) == true {
            failing.append(
                "the provider refused us (401/403); paused"
                    + (pausedUntil.map { " until \(MarketStore.timestamp($0))" } ?? "")
            )
        }
        if let run = lastRun, run.status == "failed" {
            failing.append("the last run (#\(run.id)) failed for all \(run.symbolsTotal) symbols")
        }
        if consecutiveFailures >= 3 {
            failing.append("\(consecutiveFailures) runs in a row did not complete")
        }
        if let run = lastRun, run.status == "partial" {
            degraded.append("the last run (#\(run.id)) failed for \(run.symbolsFailed) of \(run.symbolsTotal) symbols")
        }
        let lagging = lags.filter { $0.lagTradingDays > 1 }
        if let worst = lagging.max(by: { $0.lagTradingDays < $1.lagTradingDays }) {
            degraded.append(
                "\(lagging.count) of \(lags.count) symbols lag more than 1 trading day (worst: \(worst.symbol), "
                    + "\(worst.lagTradingDays) days)"
            )
        }
        if !failing.isEmpty { return ("failing", failing + degraded) }
        if !degraded.isEmpty { return ("degraded", degraded) }
        return ("ok", [])
    }
}
