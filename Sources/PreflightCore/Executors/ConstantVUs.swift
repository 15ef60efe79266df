/// `constant-vus`: a fixed number of VUs loop over the requests for `duration` (a closed model).
///
/// Each VU sends its next iteration when the last one is recorded (after `thinkTime`, if set); iteration numbers
/// come from one sequence shared by the shard's VUs.
public struct ConstantVUs: ClosedModelExecutor, Equatable {
    package static let name = "constant-vus"
    package static let keys = ["vus", "duration", "thinkTime"]

    public var vus: Int
    /// Seconds.
    public var duration: Double
    public var thinkTime: ThinkTime?

    public init(vus: Int, duration: Double, thinkTime: ThinkTime? = nil) {
        self.vus = vus
        self.duration = duration
        self.thinkTime = thinkTime
    }

    package var issuingSeconds: Double { duration }
    package var maxVUs: Int { vus }

    package var reportParameters: [String: Double] { ["vus": Double(vus), "durationSeconds": duration] }

    package func step(vu: Int, done: Int, at t: Double) -> ClosedStep { .nextShared }

    package static func decode(_ obj: JSONObjectNode) -> ConstantVUs? {
        let vus = obj.required("vus")?.integer(atLeast: 1, atMost: Limits.vus)
        let duration = obj.required("duration")?.duration()
        let think = ThinkTime.decode(obj.optional("thinkTime"))
        guard let vus, let duration else { return nil }
        return ConstantVUs(vus: vus, duration: duration, thinkTime: think)
    }
}

extension LoadSettings.Executor {
    /// `ConstantVUs` as the executor of a load block (tests and code that build settings by hand).
    package static func constantVUs(_ e: ConstantVUs) -> Self { Self(e) }
}
