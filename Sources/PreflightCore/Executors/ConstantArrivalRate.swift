/// `constant-arrival-rate`: iterations start at a fixed rate whatever the target's latency (an open model).
///
/// Arrival `i` is due at `i / rate`; an arrival that finds no free VU takes a new one up to `maxVUs`, then waits
/// in the backlog, then is dropped (`dropped_iterations`). Arrivals still waiting when `duration` ends are dropped.
public struct ConstantArrivalRate: OpenModelExecutor, Equatable {
    package static let name = "constant-arrival-rate"
    package static let keys = ["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs", "maxBacklog"]

    /// Iterations per `timeUnit`.
    public var rate: Double
    /// Seconds.
    public var timeUnit: Double
    /// Seconds.
    public var duration: Double
    public var vus: OpenModelVUs

    public init(rate: Double, timeUnit: Double = 1, duration: Double, vus: OpenModelVUs) {
        self.rate = rate
        self.timeUnit = timeUnit
        self.duration = duration
        self.vus = vus
    }

    package var issuingSeconds: Double { duration }

    package var schedule: ArrivalSchedule {
        ArrivalSchedule(constantRate: rate, timeUnit: timeUnit, duration: duration)
    }

    package var reportParameters: [String: Double] {
        ["rate": rate, "timeUnitSeconds": timeUnit, "durationSeconds": duration]
    }

    package static func decode(_ obj: JSONObjectNode) -> ConstantArrivalRate? {
        let timeUnit = obj.optional("timeUnit")?.duration() ?? 1
        let rateNode = obj.required("rate", hint: "iterations per timeUnit")
        var rate = rateNode?.number(greaterThan: 0)
        if let r = rate, r / timeUnit > Limits.ratePerSecond {
            rateNode?.fail("must be at most \(Int(Limits.ratePerSecond)) per second, got \(JSONValue.format(r))")
            rate = nil
        }
        let duration = obj.required("duration")?.duration()
        let vus = OpenModelVUs.decode(obj, peakPerSecond: rate.map { $0 / timeUnit })
        guard let rate, let duration, let vus else { return nil }
        return ConstantArrivalRate(rate: rate, timeUnit: timeUnit, duration: duration, vus: vus)
    }
}

extension LoadSettings.Executor {
    /// `ConstantArrivalRate` as the executor of a load block (tests and code that build settings by hand).
    package static func constantArrivalRate(_ e: ConstantArrivalRate) -> Self { Self(e) }
}
