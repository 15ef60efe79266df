/// `per-vu-iterations`: each VU runs `iterations` iterations, then stops, or `maxDuration` ends first.
///
/// VU `v` runs iterations `v·iterations ..< (v+1)·iterations`, so which data a VU sends does not depend on timing.
public struct PerVUIterations: ClosedModelExecutor, Equatable {
    package static let name = "per-vu-iterations"
    package static let keys = ["vus", "iterations", "maxDuration", "thinkTime"]

    public var vus: Int
    public var iterations: Int
    /// Seconds.
    public var maxDuration: Double
    public var thinkTime: ThinkTime?

    public init(vus: Int = 1, iterations: Int = 1, maxDuration: Double = 600, thinkTime: ThinkTime? = nil) {
        self.vus = vus
        self.iterations = iterations
        self.maxDuration = maxDuration
        self.thinkTime = thinkTime
    }

    package var issuingSeconds: Double { maxDuration }
    package var maxVUs: Int { vus }

    package var reportParameters: [String: Double] {
        ["vus": Double(vus), "iterations": Double(iterations), "maxDurationSeconds": maxDuration]
    }

    package func step(vu: Int, done: Int, at t: Double) -> ClosedStep {
        done < iterations ? .iteration(vu * iterations + done) : .stop
    }

    package static func decode(_ obj: JSONObjectNode) -> PerVUIterations? {
        let vus = obj.optional("vus")?.integer(atLeast: 1, atMost: Limits.vus) ?? 1
        let iterations = obj.optional("iterations")?.integer(atLeast: 1, atMost: Limits.iterations) ?? 1
        let maxDuration = obj.optional("maxDuration")?.duration() ?? 600
        let think = ThinkTime.decode(obj.optional("thinkTime"))
        return PerVUIterations(vus: vus, iterations: iterations, maxDuration: maxDuration, thinkTime: think)
    }
}

extension LoadSettings.Executor {
    /// `PerVUIterations` as the executor of a load block (tests and code that build settings by hand).
    package static func perVUIterations(_ e: PerVUIterations) -> Self { Self(e) }
}
