/// The capacity search as a value (SPEC §16): a step's figures in, the next step or the end out; no I/O, no clock.
///
/// Rise: from `startRate`, doubling (up to `maxRate`) while steps are good; a first step that is already bad halves
/// instead (at most `CapacitySearch.maxStepsDown` times). Bisect: between the last good and the first bad rate
/// until they are within `precision` of each other. Hold: the last good rate for `confirm` seconds; a failed hold
/// counts as bad and steps down by `precision`, then holds again (at most `CapacitySearch.maxHolds` holds).
///
/// A step is good when the scenario's thresholds pass on its own data and its rate could be offered: no dropped
/// iterations, and at least 95 % of the offered rate achieved.
///
/// Stairs (`CapacitySearch.stairs`): every listed rate runs for `stepDuration` in order, whatever the last one
/// showed; the answer is the highest stair below the first bad one, and each stair is its own hold.
public struct CapacitySearchMachine: Sendable {
    /// Why a step ran.
    public enum Purpose: String, Sendable, Codable, Equatable {
        case rise
        /// Halving below `startRate`, whose step was already bad.
        case down
        case bisect
        case hold
        /// One of a fixed plan's stairs.
        case stair
    }

    /// What a finished step measured (rates per second; latencies in ms).
    public struct Figures: Sendable, Equatable {
        public var offered: Double
        public var achieved: Double
        public var seconds: Double
        public var iterations: Int
        public var dropped: Int
        public var errorRate: Double
        public var p50: Double?
        public var p95: Double?
        public var p99: Double?
        /// The thresholds this step failed, as the report states them (`http_req_duration p(95)<100: 180 ms`).
        public var failedThresholds: [String]
        /// p95 (ms) over the first and over the last third of the step, when it had at least three time buckets.
        public var p95Early: Double?
        public var p95Late: Double?

        public init(
            offered: Double,
            achieved: Double,
            seconds: Double,
            iterations: Int = 0,
            dropped: Int = 0,
            errorRate: Double = 0,
            p50: Double? = nil,
            p95: Double? = nil,
            p99: Double? = nil,
            failedThresholds: [String] = [],
            p95Early: Double? = nil,
            p95Late: Double? = nil
        ) {
            self.offered = offered
            self.achieved = achieved
            self.seconds = seconds
            self.iterations = iterations
            self.dropped = dropped
            self.errorRate = errorRate
            self.p50 = p50
            self.p95 = p95
            self.p99 = p99
            self.failedThresholds = failedThresholds
            self.p95Early = p95Early
            self.p95Late = p95Late
        }

        /// The share of the offered rate below which a step could not be offered.
        public static let achievedFloor = 0.95

        /// Whether the latency was still climbing at the step's end: its last third's p95 above twice its first
        /// third's plus 1 ms (the 1 ms keeps sub-millisecond jitter from counting). A rate a little above capacity
        /// grows a queue too slowly to break a latency objective within one step, but never stops growing it: a
        /// step whose queue grows is not sustainable, however good its percentiles look so far.
        public var latencyRising: Bool {
            guard let early = p95Early, let late = p95Late else { return false }
            return late > 2 * early + 1
        }

        /// Nil when the step is good; else why not.
        public var problem: String? {
            var why: [String] = []
            if !failedThresholds.isEmpty { why.append(failedThresholds.joined(separator: "; ")) }
            if dropped > 0 { why.append("could not be offered: \(dropped) iterations dropped") }
            if latencyRising, let early = p95Early, let late = p95Late {
                why.append(
                    "latency still rising at the end (p95 \(Self.ms(early)) → \(Self.ms(late)) ms over the step): "
                        + "a queue is growing"
                )
            }
            if offered > 0, achieved < Self.achievedFloor * offered {
                let share = Int((100 * achieved / offered).rounded())
                why.append("could not be offered: achieved \(share) % of the offered rate")
            }
            return why.isEmpty ? nil : why.joined(separator: "; ")
        }

        private static func ms(_ x: Double) -> String { JSONValue.format((x * 10).rounded() / 10) }
    }

    /// One step as the report lists it.
    public struct Step: Sendable, Equatable {
        /// Per `timeUnit`, as the scenario writes rates.
        public var rate: Double
        public var purpose: Purpose
        public var figures: Figures
        public var good: Bool { figures.problem == nil }
    }

    /// What to do next.
    public enum Action: Sendable, Equatable {
        /// Run a step at `rate` per `timeUnit` for `seconds`.
        case run(rate: Double, seconds: Double, purpose: Purpose)
        case finish
    }

    public let search: CapacitySearch
    public private(set) var steps: [Step] = []
    /// The highest rate a step passed at, and the lowest it failed at.
    public private(set) var lastGood: Double?
    public private(set) var firstBad: Double?
    /// The rate a hold passed at: the answer.
    public private(set) var confirmed: Double?
    /// Why the search ended, when it did not end with a passed hold.
    public private(set) var stopReason: String?
    private var holds = 0
    private var downs = 0
    private var current: (rate: Double, purpose: Purpose)?

    public init(_ search: CapacitySearch) { self.search = search }

    public mutating func start() -> Action {
        if let first = search.stairs?.first { return next(rate: first, purpose: .stair) }
        return next(rate: search.startLevel, purpose: .rise)
    }

    private var closed: Bool { search.model == .closed }

    /// The running step finished with `figures`.
    public mutating func finished(_ figures: Figures) -> Action {
        guard let (rate, purpose) = current else { return .finish }
        current = nil
        let step = Step(rate: rate, purpose: purpose, figures: figures)
        steps.append(step)
        switch purpose {
        case .stair:
            return finishedStair(step)
        case .hold:
            if step.good {
                confirmed = rate
                return .finish
            }
            firstBad = min(firstBad ?? rate, rate)
            guard holds < CapacitySearch.maxHolds else {
                stopReason = "\(holds) holds failed; the last at \(fmt(rate)): \(figures.problem ?? "")"
                return .finish
            }
            let lower = closed ? rate - max(1, (rate * search.precision).rounded(.down)) : rate * (1 - search.precision)
            guard lower >= (closed ? 1 : 0) else {
                stopReason = "the hold at the lowest level failed: \(figures.problem ?? "")"
                return .finish
            }
            return next(rate: lower, purpose: .hold)
        case .rise, .down, .bisect:
            if step.good {
                lastGood = max(lastGood ?? rate, rate)
            } else {
                firstBad = min(firstBad ?? rate, rate)
            }
        }
        guard let good = lastGood else {
            // Even the lowest rate so far is too much: halve, a few times (a closed search cannot go below 1 VU).
            guard downs < CapacitySearch.maxStepsDown, !closed || rate > 1 else {
                stopReason =
                    "no sustainable rate: \(fmt(rate)) per \(fmt(search.timeUnit)) s still failed after "
                    + "\(downs) halvings below startRate"
                return .finish
            }
            downs += 1
            return next(rate: closed ? (rate / 2).rounded(.down) : rate / 2, purpose: .down)
        }
        guard let bad = firstBad else {
            if good >= search.maxLevel { return next(rate: search.maxLevel, purpose: .hold) }
            return next(rate: min(good * 2, search.maxLevel), purpose: .rise)
        }
        if (bad - good) / good <= search.precision || (closed && bad - good <= 1) {
            return next(rate: good, purpose: .hold)
        }
        return next(rate: closed ? ((good + bad) / 2).rounded(.down) : (good + bad) / 2, purpose: .bisect)
    }

    /// Stairs: the next stair, whatever this one showed; after the last, the answer is the highest stair below the
    /// first bad one (each stair ran as long as a hold: it is confirmed).
    private mutating func finishedStair(_ step: Step) -> Action {
        if step.good {
            if firstBad == nil { lastGood = step.rate }
        } else {
            firstBad = min(firstBad ?? step.rate, step.rate)
        }
        let stairs = search.stairs ?? []
        if steps.count < stairs.count { return next(rate: stairs[steps.count], purpose: .stair) }
        confirmed = lastGood
        if lastGood == nil, let first = steps.first {
            stopReason = "the first stair (\(fmt(first.rate))) failed: \(first.figures.problem ?? "")"
        }
        return .finish
    }

    /// The search was interrupted: the steps so far stand, unconfirmed.
    public mutating func interrupted() {
        current = nil
        stopReason = "interrupted after \(steps.count) steps"
    }

    private mutating func next(rate: Double, purpose: Purpose) -> Action {
        if purpose == .hold { holds += 1 }
        current = (rate, purpose)
        return .run(rate: rate, seconds: purpose == .hold ? search.confirm : search.stepDuration, purpose: purpose)
    }

    /// The highest rate found sustainable: the held rate when a hold passed, else the best short step's (not
    /// confirmed).
    public var sustainableRate: Double? {
        if search.stairs != nil { return confirmed ?? lastGood }
        return confirmed ?? steps.filter(\.good).map(\.rate).max()
    }

    /// The lowest rate a step failed at (short steps and holds).
    public var firstFailingRate: Double? { steps.filter { !$0.good }.map(\.rate).min() }

    /// The step that failed first at `firstFailingRate`.
    public var firstFailingStep: Step? {
        guard let rate = firstFailingRate else { return nil }
        return steps.first { !$0.good && $0.rate == rate }
    }

    /// Whether the search reached `maxRate` without a failing step: the capacity is at least `maxRate`.
    public var cappedByMaxRate: Bool { confirmed == search.maxLevel && firstFailingRate == nil }

    /// Closed model: the Universal Scalability Law fitted to each concurrency's throughput (its latest step).
    public var usl: USLFit? {
        guard closed else { return nil }
        var byVUs: [Double: Double] = [:]
        for s in steps { byVUs[s.rate] = s.figures.achieved }
        return USLFit.fit(byVUs.map { (concurrency: $0.key, throughput: $0.value) })
    }

    private func fmt(_ x: Double) -> String { JSONValue.format((x * 100).rounded() / 100) }
}
