import Foundation

/// `capacity-search` (SPEC §16): the highest arrival rate that keeps the scenario's thresholds, found by rising,
/// bisecting and holding; not a schedule of its own but a sequence of `constant-arrival-rate` steps, each judged on
/// its own data, the next chosen by `CapacitySearchMachine` from the last one's figures.
///
/// Unlike k6's breakpoint test (one ramp aborted at the first crossing, "an approximate outer bound") every step
/// runs at one rate long enough to be judged, the boundary is bisected to `precision`, and the answer is held for
/// `confirm` before it is called sustainable.
public struct CapacitySearch: ExecutorDefinition, Equatable {
    package static let name = "capacity-search"
    package static let keys = [
        "startRate", "maxRate", "timeUnit", "stepDuration", "precision", "confirm", "preAllocatedVUs", "maxVUs",
        "maxBacklog", "model", "thinkTime", "stairs",
    ]

    /// `open` (default): steps of arrival rate. `closed`: steps of VUs (1, 2, 4, … up to `maxVUs`), each looping
    /// iterations as fast as answers come, and the Universal Scalability Law fitted to throughput by concurrency.
    public enum Model: String, Sendable, Equatable, CaseIterable {
        case open
        case closed
    }

    /// Iterations per `timeUnit` of the first step.
    public var startRate: Double
    /// The highest rate tried; a search that passes it holds it and says the capacity is at least that.
    public var maxRate: Double
    /// Seconds.
    public var timeUnit: Double
    /// Seconds each rising or bisecting step runs (default 10).
    public var stepDuration: Double
    /// Bisection stops when the last good and the first bad rate are this close, relative (default 0.05).
    public var precision: Double
    /// Seconds the found rate is held to confirm it (default 30).
    public var confirm: Double
    public var vus: OpenModelVUs
    public var model = Model.open
    /// Closed model: a pause after each iteration.
    public var thinkTime: ThinkTime?
    /// Stairs: fixed rates per `timeUnit`, ascending, each run for `stepDuration` whatever the last one showed, on a
    /// fixed timetable: the plan every shard of a segmented run follows in step, so `merge` can judge each stair on
    /// the merged data. Nil for the adaptive search.
    public var stairs: [Double]?

    public init(
        startRate: Double,
        maxRate: Double,
        timeUnit: Double = 1,
        stepDuration: Double = 10,
        precision: Double = 0.05,
        confirm: Double = 30,
        vus: OpenModelVUs
    ) {
        self.startRate = startRate
        self.maxRate = maxRate
        self.timeUnit = timeUnit
        self.stepDuration = stepDuration
        self.precision = precision
        self.confirm = confirm
        self.vus = vus
    }

    /// Failed holds before the search stops unconfirmed.
    public static let maxHolds = 3
    /// Halvings below `startRate` when the first step already fails.
    public static let maxStepsDown = 4

    /// The level of the first step and the highest one: a rate per `timeUnit` (open), or VUs (closed).
    public var startLevel: Double { model == .open ? startRate : 1 }
    public var maxLevel: Double { model == .open ? maxRate : Double(vus.max) }

    /// Most stairs a plan may have.
    public static let maxStairs = 32
    /// Seconds between the end of one stair's issuing and the start of the next on the timetable: the stair's drain
    /// (its `gracefulStop`, at most `stairDrain`) and its warm-up and connections.
    public static let stairGap = 3.0
    /// A stair's drain: in-flight iterations still running this long after its issuing ends are abandoned.
    public static let stairDrain = 2.0

    /// Seconds from one stair's start to the next one's on the timetable.
    public var stairSlot: Double { stepDuration + Self.stairGap }

    /// The most steps the search can take: rising to `maxRate` (or halving below `startRate`), bisecting to
    /// `precision`, and the holds; or the stairs.
    public var maxShortSteps: Int {
        if let stairs { return stairs.count }
        let rise = Int(log2(maxLevel / startLevel).rounded(.up)) + 1
        let bisect = Int(log2(1 / precision).rounded(.up)) + 1
        return max(rise, Self.maxStepsDown + 1) + bisect
    }

    /// The bound on the search's measured time (its warm-ups and graceful stops come on top).
    package var issuingSeconds: Double {
        if let stairs { return Double(stairs.count) * stairSlot }
        return Double(maxShortSteps) * stepDuration + Double(Self.maxHolds) * confirm
    }
    package var maxVUs: Int { vus.max }

    package var reportParameters: [String: Double] {
        if model == .closed {
            return [
                "maxVUs": Double(vus.max), "stepDurationSeconds": stepDuration, "precision": precision,
                "confirmSeconds": confirm,
            ]
        }
        if let stairs {
            return [
                "stairs": Double(stairs.count), "startRate": startRate, "maxRate": maxRate, "timeUnitSeconds": timeUnit,
                "stepDurationSeconds": stepDuration,
            ]
        }
        return [
            "startRate": startRate, "maxRate": maxRate, "timeUnitSeconds": timeUnit,
            "stepDurationSeconds": stepDuration,
            "precision": precision, "confirmSeconds": confirm,
        ]
    }

    /// The executor of one step at `level` for `seconds`: `level` per `timeUnit` with the search's VUs (open), or
    /// `level` VUs looping (closed).
    public func step(level: Double, seconds: Double) -> LoadSettings.Executor {
        switch model {
        case .open:
            .constantArrivalRate(ConstantArrivalRate(rate: level, timeUnit: timeUnit, duration: seconds, vus: vus))
        case .closed:
            LoadSettings.Executor(ConstantVUs(vus: Int(level), duration: seconds, thinkTime: thinkTime))
        }
    }

    package static func decode(_ obj: JSONObjectNode) -> CapacitySearch? {
        guard obj.optional("model")?.oneOf(Model.self) != .closed else { return decodeClosed(obj) }
        if obj.has("stairs") { return decodeStairs(obj) }
        if obj.has("thinkTime") {
            obj.node.diag.add(
                obj.node.child("thinkTime"),
                "applies to the closed model only",
                hint: "an open search paces by rate; write \"model\": \"closed\" to step VUs"
            )
        }
        let timeUnit = obj.optional("timeUnit")?.duration() ?? 1
        let limit = Limits.ratePerSecond * timeUnit
        let start = obj.required("startRate", hint: "the first step's rate per timeUnit, e.g. 50")?.number(
            greaterThan: 0
        )
        let maxNode = obj.required("maxRate", hint: "the highest rate to try per timeUnit, e.g. 2000")
        var maxRate = maxNode?.number(greaterThan: 0)
        if let m = maxRate, m > limit {
            maxNode?.fail("must be at most \(Int(Limits.ratePerSecond)) per second, got \(JSONValue.format(m))")
            maxRate = nil
        }
        if let s = start, let m = maxRate, m < s {
            maxNode?.fail("must be >= startRate (\(JSONValue.format(s))), got \(JSONValue.format(m))")
            maxRate = nil
        }
        let (stepDuration, confirm, precision) = decodePacing(obj)
        let vus = OpenModelVUs.decode(obj, peakPerSecond: maxRate.map { $0 / timeUnit })
        guard let start, let maxRate, let precision, let vus else { return nil }
        return CapacitySearch(
            startRate: start,
            maxRate: maxRate,
            timeUnit: timeUnit,
            stepDuration: stepDuration,
            precision: precision,
            confirm: confirm,
            vus: vus
        )
    }
}

extension CapacitySearch {
    /// The keys both models share: `stepDuration` (10s), `confirm` (30s), `precision` (0.05; nil when invalid).
    static func decodePacing(_ obj: JSONObjectNode) -> (step: Double, confirm: Double, precision: Double?) {
        let precision = obj.optional("precision").map { $0.number(atLeast: 0.001, atMost: 0.5) } ?? 0.05
        return (
            obj.optional("stepDuration")?.duration() ?? 10, obj.optional("confirm")?.duration() ?? 30, precision
        )
    }

    /// A stairs plan as `merge` replays it: the rates, their time unit and each stair's seconds (VUs play no part).
    public static func stairs(_ rates: [Double], timeUnit: Double, stepDuration: Double) -> CapacitySearch {
        var search = CapacitySearch(
            startRate: rates.first ?? 0,
            maxRate: rates.last ?? 0,
            timeUnit: timeUnit,
            stepDuration: stepDuration,
            confirm: stepDuration,
            vus: OpenModelVUs(preAllocated: 1, max: 1, maxBacklog: 0)
        )
        search.stairs = rates
        return search
    }

    /// `"stairs": [r1, r2, …]`: fixed ascending rates per `timeUnit`, each a hold of `stepDuration` (default 30s,
    /// a hold's); the adaptive keys do not apply.
    static func decodeStairs(_ obj: JSONObjectNode) -> CapacitySearch? {
        for key in ["startRate", "maxRate", "precision", "confirm"] where obj.has(key) {
            obj.node.diag.add(
                obj.node.child(key),
                "does not apply beside stairs",
                hint:
                    "stairs run every listed rate for stepDuration; drop \(key), or drop stairs for the adaptive search"
            )
        }
        if obj.has("thinkTime") {
            obj.node.diag.add(
                obj.node.child("thinkTime"),
                "applies to the closed model only",
                hint: "stairs pace by rate"
            )
        }
        let timeUnit = obj.optional("timeUnit")?.duration() ?? 1
        let limit = Limits.ratePerSecond * timeUnit
        guard let node = obj.required("stairs", hint: "ascending rates per timeUnit, e.g. [100, 200, 400]") else {
            return nil
        }
        guard let items = node.array() else { return nil }
        var rates: [Double] = []
        var valid = true
        if items.count < 2 || items.count > maxStairs {
            node.fail("must list 2 to \(maxStairs) rates, got \(items.count)")
            valid = false
        }
        for item in items {
            guard let r = item.number(greaterThan: 0) else {
                valid = false
                continue
            }
            if r > limit {
                item.fail("must be at most \(Int(Limits.ratePerSecond)) per second, got \(JSONValue.format(r))")
                valid = false
            } else if let last = rates.last, r <= last {
                item.fail("must be above the stair before it (\(JSONValue.format(last))): stairs go up")
                valid = false
            }
            rates.append(r)
        }
        let stepDuration = obj.optional("stepDuration")?.duration() ?? 30
        let vus = OpenModelVUs.decode(obj, peakPerSecond: rates.max().map { $0 / timeUnit })
        guard valid, let first = rates.first, let last = rates.last, let vus else { return nil }
        var search = CapacitySearch(
            startRate: first,
            maxRate: last,
            timeUnit: timeUnit,
            stepDuration: stepDuration,
            confirm: stepDuration,
            vus: vus
        )
        search.stairs = rates
        return search
    }

    /// `"model": "closed"`: `maxVUs` (required) bounds the VUs; rates and arrival keys do not apply.
    static func decodeClosed(_ obj: JSONObjectNode) -> CapacitySearch? {
        for key in ["startRate", "maxRate", "timeUnit", "preAllocatedVUs", "maxBacklog", "stairs"] where obj.has(key) {
            obj.node.diag.add(
                obj.node.child(key),
                "applies to the open model only",
                hint: "the closed model steps VUs 1, 2, 4, … up to maxVUs"
            )
        }
        let maxVUs = obj.required("maxVUs", hint: "the most VUs to step up to, e.g. 64")?.integer(
            atLeast: 2,
            atMost: Limits.vus
        )
        let (stepDuration, confirm, precision) = decodePacing(obj)
        let think = ThinkTime.decode(obj.optional("thinkTime"))
        guard let maxVUs, let precision else { return nil }
        var search = CapacitySearch(
            startRate: 1,
            maxRate: Double(maxVUs),
            stepDuration: stepDuration,
            precision: precision,
            confirm: confirm,
            vus: OpenModelVUs(preAllocated: 1, max: maxVUs, maxBacklog: 0)
        )
        search.model = .closed
        search.thinkTime = think
        return search
    }
}

extension LoadSettings.Executor {
    /// The capacity search, when this executor is one.
    public var capacitySearch: CapacitySearch? { definition as? CapacitySearch }
}
