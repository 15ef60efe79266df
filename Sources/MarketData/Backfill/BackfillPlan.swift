/// A contiguous run of missing trading days, fetched with one provider range.
public struct BackfillChunk: Sendable, Equatable, CustomStringConvertible {
    public var from: TradingCalendar.Day
    public var to: TradingCalendar.Day
    /// Missing trading days in the range.
    public var days: Int

    public var description: String { "\(from)…\(to) (\(days) days)" }
}

/// Finds the trading days a symbol is missing over the lookback and cuts them into chunks, newest first. Pure.
public enum BackfillPlanner {
    public static func chunks(
        stored: Set<String>,
        from: TradingCalendar.Day,
        to: TradingCalendar.Day,
        calendar: TradingCalendar = TradingCalendar(),
        chunkDays: Int
    ) -> [BackfillChunk] {
        // Walk from the newest day back, so the newest chunk is a full one.
        let days = calendar.tradingDays(from: from, to: to).reversed()
        var runs: [[TradingCalendar.Day]] = []
        var current: [TradingCalendar.Day] = []
        for day in days {
            if stored.contains(day.description) {
                if !current.isEmpty { runs.append(current) }
                current = []
            } else {
                current.append(day)
                if current.count == chunkDays {
                    runs.append(current)
                    current = []
                }
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs.map { BackfillChunk(from: $0.last!, to: $0.first!, days: $0.count) }
    }
}

/// One symbol's backfill as a state machine: transitions return what to do next, so the logic is tested
/// without a provider, a database or a clock.
public struct BackfillJob: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case planned
        case fetching(chunk: Int)
        case storing(chunk: Int)
        case done
        /// The provider does not know the symbol (404); it is not retried.
        case unknownSymbol
        /// The provider refused us (401/403); the scheduler pauses it.
        case providerRefused(status: Int)
        case failed(String)
    }

    public enum Action: Sendable, Equatable {
        case fetch(BackfillChunk)
        case store(BackfillChunk)
        case finish(State)
    }

    public let symbol: String
    public let chunks: [BackfillChunk]
    public private(set) var state = State.planned
    public private(set) var chunksDone = 0
    /// Missing days the provider had no bar for (reported as open gaps).
    public private(set) var openGaps = 0

    public init(symbol: String, chunks: [BackfillChunk]) {
        self.symbol = symbol
        self.chunks = chunks
    }

    public mutating func start() -> Action { advance(from: 0) }

    /// The chunk's fetch succeeded with `bars` bars.
    public mutating func fetched(bars: Int) -> Action {
        guard case .fetching(let i) = state else { return .finish(state) }
        openGaps += max(0, chunks[i].days - bars)
        state = .storing(chunk: i)
        return .store(chunks[i])
    }

    /// The chunk is stored (bars and chunk status in one transaction).
    public mutating func stored() -> Action {
        guard case .storing(let i) = state else { return .finish(state) }
        chunksDone += 1
        return advance(from: i + 1)
    }

    /// The chunk's fetch gave up after its retries.
    public mutating func failed(_ failure: ProviderFailure) -> Action {
        switch failure {
        case .unknownSymbol: state = .unknownSymbol
        case .unauthorized(let s): state = .providerRefused(status: s)
        case .rejected(let s): state = .failed("provider answered \(s)")
        case .exhausted(let s, let attempts):
            state = .failed(
                "gave up after \(attempts) attempts (last: \(s.map { "HTTP \($0)" } ?? "timeout or malformed body"))"
            )
        case .budgetSpent(let n): state = .failed("the request budget of \(n) is spent")
        }
        return .finish(state)
    }

    private mutating func advance(from i: Int) -> Action {
        guard i < chunks.count else {
            state = .done
            return .finish(.done)
        }
        state = .fetching(chunk: i)
        return .fetch(chunks[i])
    }
}
