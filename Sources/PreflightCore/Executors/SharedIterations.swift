/// `shared-iterations` (k6's): `iterations` in total, taken by `vus` VUs as each becomes free, or `maxDuration`
/// ends first.
///
/// Iteration numbers run `0 ..< iterations`, each sent once. An event loop's VUs take the numbers of its share
/// (`k, k+n, …` for loop `k` of `n`, segments included), so a fast VU takes more of them than a slow one, as in
/// k6, but one event loop does not take another's: with several loops, one that finishes early stays idle.
public struct SharedIterations: ClosedModelExecutor, Equatable {
    package static let name = "shared-iterations"
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

    package func step(vu: Int, done: Int, at t: Double) -> ClosedStep { .nextSharedBelow(iterations) }

    package static func decode(_ obj: JSONObjectNode) -> SharedIterations? {
        let vus = obj.optional("vus")?.integer(atLeast: 1, atMost: Limits.vus) ?? 1
        let iterations = obj.optional("iterations")?.integer(atLeast: 1, atMost: Limits.iterations) ?? 1
        let maxDuration = obj.optional("maxDuration")?.duration() ?? 600
        let think = ThinkTime.decode(obj.optional("thinkTime"))
        // k6 refuses it too: a VU that can never run an iteration is a mistake in the numbers.
        if vus > iterations {
            (obj.optional("vus") ?? obj.node).fail(
                "is more than the \(iterations) iterations to share; \(vus - iterations) VUs would never run one",
                hint: "use at most \(iterations) VUs"
            )
            return nil
        }
        return SharedIterations(vus: vus, iterations: iterations, maxDuration: maxDuration, thinkTime: think)
    }
}

extension LoadSettings.Executor {
    /// `SharedIterations` as the executor of a load block (tests and code that build settings by hand).
    package static func sharedIterations(_ e: SharedIterations) -> Self { Self(e) }
}
