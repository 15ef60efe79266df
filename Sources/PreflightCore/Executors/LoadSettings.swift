/// The load model, with k6's executor names and meanings.
///
/// Each executor lives in its own file under `Executors/` (as in k6's `lib/executor`): its settings, how they
/// are read and checked, the parameters the report shows, and its scheduling rules for `ExecutorStateMachine`;
/// `ExecutorRegistry` lists them.
public struct LoadSettings: Sendable, Equatable {
    /// The executor a scenario named, with the settings only it has (one file each under `Executors/`).
    public struct Executor: Sendable, Equatable {
        /// The executor's own type: an `OpenModelExecutor` or a `ClosedModelExecutor`.
        package let definition: any ExecutorDefinition

        package init(_ definition: any ExecutorDefinition) { self.definition = definition }

        public static func == (a: Executor, b: Executor) -> Bool { a.definition.isEqual(to: b.definition) }

        public var name: String { type(of: definition).name }

        /// Open models start iterations on a schedule; closed models loop VUs.
        public var isOpenModel: Bool { open != nil }

        /// Open models: when each arrival is due, and the VUs and backlog that serve them.
        package var open: (any OpenModelExecutor)? { definition as? any OpenModelExecutor }

        /// Closed models: what each VU does next.
        package var closed: (any ClosedModelExecutor)? { definition as? any ClosedModelExecutor }

        /// Seconds during which new iterations are issued (the longest for `per-vu-iterations`).
        public var issuingSeconds: Double { definition.issuingSeconds }

        /// Open models: the most VUs that may exist; closed models: the VUs.
        public var maxVUs: Int { definition.maxVUs }

        /// VUs that exist from the start (their connections are opened before it).
        public var initialVUs: Int { open?.vus.preAllocated ?? maxVUs }

        /// Closed models: a pause after each iteration, fixed or uniform in [min, max] seconds.
        public var thinkTime: ThinkTime? { closed?.thinkTime }

        /// The parameters the report lists (rates per time unit, durations in seconds) and the stages, if any.
        package var reportParameters: (params: [String: Double], stages: [Stage]?) {
            var params = definition.reportParameters
            if let vus = open?.vus {
                params["preAllocatedVUs"] = Double(vus.preAllocated)
                params["maxVUs"] = Double(vus.max)
                params["maxBacklog"] = Double(vus.maxBacklog)
            }
            if let think = thinkTime {
                params["thinkTimeMinSeconds"] = think.range.lowerBound
                params["thinkTimeMaxSeconds"] = think.range.upperBound
            }
            return (params, definition.reportStages)
        }
    }

    /// A ramp to `target` (iterations per time unit, or VUs) over `duration` seconds.
    public struct Stage: Sendable, Equatable {
        public var target: Double
        public var duration: Double

        public init(target: Double, duration: Double) {
            self.target = target
            self.duration = duration
        }
    }

    public var executor: Executor
    /// Seconds in-flight iterations may take to finish after issuing stops.
    public var gracefulStop: Double = 30

    public init(executor: Executor, gracefulStop: Double = 30) {
        self.executor = executor
        self.gracefulStop = gracefulStop
    }

    /// Seconds during which new iterations are issued (the longest for `per-vu-iterations`).
    public var issuingSeconds: Double { executor.issuingSeconds }
    /// Open models: the most VUs that may exist; closed models: the VUs.
    public var maxVUs: Int { executor.maxVUs }
    /// Open models: VUs created before the start; closed models: the VUs.
    public var preAllocatedVUs: Int { executor.initialVUs }
    /// Open models: arrivals that may wait for a free VU; more are dropped. Closed models: 0.
    public var maxBacklog: Int { executor.open?.vus.maxBacklog ?? 0 }
    /// Closed models: a pause after each iteration.
    public var thinkTime: ClosedRange<Double>? { executor.thinkTime?.range }
}

/// What a closed-model VU does next.
package enum ClosedStep: Equatable {
    /// Runs the shard's next iteration number (constant and ramping VUs share one sequence).
    case nextShared
    /// The same, while that number is below the limit (`shared-iterations`); past it the VU has nothing to do.
    case nextSharedBelow(Int)
    /// Runs this iteration number (per-VU iterations own theirs).
    case iteration(Int)
    /// Waits until `t` seconds from the start, then asks again (a ramping VU above the target).
    case wait(until: Double)
    /// Has nothing more to do.
    case stop
}

/// Open models: the VUs that serve arrivals and the backlog for arrivals that find none free.
public struct OpenModelVUs: Sendable, Equatable {
    public var preAllocated: Int
    public var max: Int
    public var maxBacklog: Int

    /// Reads `preAllocatedVUs`, `maxVUs` (default: preAllocatedVUs) and `maxBacklog` (default: one second of the
    /// peak rate, at least 1).
    package static func decode(_ obj: JSONObjectNode, peakPerSecond: Double?) -> OpenModelVUs? {
        let pre = obj.required("preAllocatedVUs", hint: "VUs created before the start, e.g. 10")?.integer(
            atLeast: 1,
            atMost: Limits.vus
        )
        let maxVUs = obj.optional("maxVUs")?.integer(atLeast: 1, atMost: Limits.vus) ?? pre
        if let pre, let maxVUs, maxVUs < pre {
            obj.node.diag.add(obj.node.child("maxVUs"), "must be >= preAllocatedVUs (\(pre)), got \(maxVUs)")
            return nil
        }
        let backlog =
            obj.optional("maxBacklog")?.integer(atLeast: 0, atMost: Limits.backlog)
            ?? Swift.max(1, Int(Swift.min(peakPerSecond ?? 1, Double(Limits.backlog)).rounded(.up)))
        guard let pre, let maxVUs else { return nil }
        return OpenModelVUs(preAllocated: pre, max: maxVUs, maxBacklog: backlog)
    }
}

/// Closed models: a pause after each iteration, fixed or uniform in [min, max] seconds.
public struct ThinkTime: Sendable, Equatable {
    public var range: ClosedRange<Double>

    /// A pause drawn from `rng`; zero when the range is zero.
    package func draw(using rng: inout SplitMix64) -> Double {
        let span = range.upperBound - range.lowerBound
        return range.lowerBound + (span > 0 ? Double.random(in: 0...span, using: &rng) : 0)
    }

    /// `"500ms"` or `{"min": "1s", "max": "3s"}`.
    package static func decode(_ node: JSONNode?) -> ThinkTime? {
        guard let node else { return nil }
        if case .object = node.value {
            guard let o = node.object(keys: ["min", "max"]) else { return nil }
            let lo = o.required("min")?.duration(positive: false)
            let hi = o.required("max")?.duration(positive: false)
            guard let lo, let hi else { return nil }
            guard lo <= hi else {
                node.fail("min must not be above max")
                return nil
            }
            return ThinkTime(range: lo...hi)
        }
        return node.duration(positive: false).map { ThinkTime(range: $0...$0) }
    }
}

/// The largest values a load block accepts: far above any real run, and small enough that no arithmetic on them
/// (nanoseconds in an `Int64`, iteration numbers in an `Int`) can overflow.
package enum Limits {
    package static let vus = 100_000
    package static let backlog = 10_000_000
    package static let iterations = 1_000_000_000
    /// Iterations per second, after dividing by the time unit.
    package static let ratePerSecond = 10_000_000.0
}

extension LoadSettings {
    /// Reads a `load` block: `executor` picks the executor, which reads and checks its own keys.
    package static func decode(_ node: JSONNode) -> LoadSettings? {
        guard case .object(let dict) = node.value else {
            node.fail("must be an object, got \(node.value.kindDescription)")
            return nil
        }
        guard case .string(let name)? = dict["executor"], let kind = ExecutorRegistry.named(name) else {
            let got = dict["executor"].map { " got \($0.kindDescription)" } ?? " it is missing"
            node.diag.add(
                node.child("executor"),
                "must be one of \(ExecutorRegistry.names.joined(separator: ", "));\(got)"
            )
            return nil
        }
        let keys = kind.keys
        // `thinkTime` is known to every executor, so an open model gets the reason rather than "unknown key".
        let known = ["executor", "gracefulStop"] + keys + (keys.contains("thinkTime") ? [] : ["thinkTime"])
        guard let obj = node.object(keys: known) else { return nil }
        let gracefulStop = obj.optional("gracefulStop")?.duration(positive: false) ?? 30
        if !keys.contains("thinkTime"), obj.has("thinkTime") {
            obj.node.diag.add(
                obj.node.child("thinkTime"),
                "applies to closed models only",
                hint: "arrival-rate executors pace by rate"
            )
        }
        let executor = kind.decode(obj).map { Executor($0) }
        return executor.map { LoadSettings(executor: $0, gracefulStop: gracefulStop) }
    }

    /// Reads `stages`: at least one `{"target": …, "duration": …}`, targets at most `maxTarget`.
    package static func decodeStages(_ node: JSONNode?, maxTarget: Double, wholeTargets: Bool) -> [Stage]? {
        guard let node, let items = node.array() else { return nil }
        if items.isEmpty {
            node.fail("must have at least one stage", hint: "e.g. [{\"target\": 100, \"duration\": \"30s\"}]")
            return nil
        }
        let stages = items.compactMap { item -> Stage? in
            guard let o = item.object(keys: ["target", "duration"]) else { return nil }
            let targetNode = o.required("target")
            var target = targetNode?.number(atLeast: 0, atMost: maxTarget)
            if let t = target, wholeTargets, t.rounded() != t {
                targetNode?.fail("must be a whole number of VUs, got \(JSONValue.format(t))")
                target = nil
            }
            let duration = o.required("duration")?.duration()
            guard let target, let duration else { return nil }
            return Stage(target: target, duration: duration)
        }
        return stages.count == items.count ? stages : nil
    }
}
