/// `ramping-arrival-rate`: the arrival rate moves linearly from stage to stage (an open model).
///
/// The rate is integrated and inverted (`ArrivalSchedule`), so arrivals follow the ramp exactly rather than in
/// per-second steps; VUs, backlog and drops work as in `constant-arrival-rate`.
public struct RampingArrivalRate: OpenModelExecutor, Equatable {
    package static let name = "ramping-arrival-rate"
    package static let keys = ["startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs", "maxBacklog"]

    /// Iterations per `timeUnit` at the start.
    public var startRate: Double
    /// Seconds.
    public var timeUnit: Double
    /// Targets in iterations per `timeUnit`.
    public var stages: [LoadSettings.Stage]
    public var vus: OpenModelVUs

    public init(startRate: Double = 0, timeUnit: Double = 1, stages: [LoadSettings.Stage], vus: OpenModelVUs) {
        self.startRate = startRate
        self.timeUnit = timeUnit
        self.stages = stages
        self.vus = vus
    }

    package var schedule: ArrivalSchedule { ArrivalSchedule(startRate: startRate, timeUnit: timeUnit, stages: stages) }

    package var reportParameters: [String: Double] { ["startRate": startRate, "timeUnitSeconds": timeUnit] }
    package var reportStages: [LoadSettings.Stage]? { stages }

    package static func decode(_ obj: JSONObjectNode) -> RampingArrivalRate? {
        let timeUnit = obj.optional("timeUnit")?.duration() ?? 1
        let maxRate = Limits.ratePerSecond * timeUnit
        let start = obj.optional("startRate")?.number(atLeast: 0, atMost: maxRate) ?? 0
        let stages = LoadSettings.decodeStages(obj.required("stages"), maxTarget: maxRate, wholeTargets: false)
        let peak = stages.map { ([start] + $0.map(\.target)).max()! }
        let vus = OpenModelVUs.decode(obj, peakPerSecond: peak.map { $0 / timeUnit })
        guard let stages, let vus else { return nil }
        return RampingArrivalRate(startRate: start, timeUnit: timeUnit, stages: stages, vus: vus)
    }
}

extension LoadSettings.Executor {
    /// `RampingArrivalRate` as the executor of a load block (tests and code that build settings by hand).
    package static func rampingArrivalRate(_ e: RampingArrivalRate) -> Self { Self(e) }
}
