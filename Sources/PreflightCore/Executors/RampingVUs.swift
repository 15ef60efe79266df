/// `ramping-vus`: the number of looping VUs follows linear stages (a closed model).
///
/// VU `n` runs while the target is above `n`. A VU above a falling target finishes its current iteration (bounded
/// by `http.timeout`) and then waits; it starts again exactly when a rising target reaches it (k6's
/// `gracefulRampDown` is not supported).
public struct RampingVUs: ClosedModelExecutor, Equatable {
    package static let name = "ramping-vus"
    package static let keys = ["startVUs", "stages", "thinkTime"]

    public var schedule: VUSchedule
    public var thinkTime: ThinkTime?

    public init(startVUs: Int = 1, stages: [LoadSettings.Stage], thinkTime: ThinkTime? = nil) {
        self.schedule = VUSchedule(startVUs: startVUs, stages: stages)
        self.thinkTime = thinkTime
    }

    package var issuingSeconds: Double { schedule.duration }
    package var maxVUs: Int { schedule.peak }
    package var reportStages: [LoadSettings.Stage]? { schedule.stages }

    package var reportParameters: [String: Double] { ["startVUs": Double(schedule.startVUs)] }

    package func step(vu: Int, done: Int, at t: Double) -> ClosedStep {
        if vu < schedule.target(at: t) { return .nextShared }
        return schedule.firstTime(reaching: vu + 1, after: t).map { .wait(until: $0) } ?? .stop
    }

    package static func decode(_ obj: JSONObjectNode) -> RampingVUs? {
        let start = obj.optional("startVUs")?.integer(atLeast: 0, atMost: Limits.vus) ?? 1
        let stages = LoadSettings.decodeStages(
            obj.required("stages"),
            maxTarget: Double(Limits.vus),
            wholeTargets: true
        )
        let think = ThinkTime.decode(obj.optional("thinkTime"))
        guard let stages else { return nil }
        return RampingVUs(startVUs: start, stages: stages, thinkTime: think)
    }
}

extension LoadSettings.Executor {
    /// `RampingVUs` as the executor of a load block (tests and code that build settings by hand).
    package static func rampingVUs(_ e: RampingVUs) -> Self { Self(e) }
}
