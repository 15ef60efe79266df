/// A capacity step's data kept whole: its metrics beside its figures, so shards' stairs can be added and judged
/// again on the sum (`preflight merge`).
public struct CapacityStairMetrics: Sendable {
    public var metrics: RunMetrics
    public var figures: CapacitySearchMachine.Figures

    public init(metrics: RunMetrics, figures: CapacitySearchMachine.Figures) {
        self.metrics = metrics
        self.figures = figures
    }
}

extension CapacitySearchMachine.Figures {
    /// A step's figures from its metrics: drops, errors, latency percentiles and the thresholds it broke, judged on
    /// `metrics` over `seconds`.
    ///
    /// - Parameters:
    ///   - offered: iterations per second offered (0 for a closed step, which offers no rate).
    ///   - achieved: iterations per second achieved; by default completed iterations over `seconds`.
    ///   - p95Early: the step's first third's p95, ms (nil without three time buckets); `p95Late` its last third's.
    public static func judged(
        _ metrics: RunMetrics,
        requestNames: [String],
        seconds: Double,
        offered: Double,
        achieved: Double? = nil,
        thresholds: [ThresholdSpec],
        p95Early: Double?,
        p95Late: Double?
    ) -> Self {
        let values = MetricValues(metrics: metrics, requestNames: requestNames, durationSeconds: seconds)
        let latency = { (p: Double) in values.value(.client(.httpReqDuration, tags: []), aggregation: .percentile(p)) }
        let failed = ThresholdResult.evaluate(thresholds, values: values).filter { !$0.ok }.map { t in
            "\(t.expression) (observed \(t.observed.map { JSONValue.format(($0 * 10).rounded() / 10) } ?? "no data"))"
        }
        return Self(
            offered: offered,
            achieved: achieved ?? (seconds > 0 ? Double(metrics.iterations) / seconds : 0),
            seconds: seconds,
            iterations: metrics.iterations,
            dropped: metrics.droppedIterations,
            errorRate: values.value(.client(.httpReqFailed, tags: []), aggregation: .rate) ?? 0,
            p50: latency(50),
            p95: latency(95),
            p99: latency(99),
            failedThresholds: failed,
            p95Early: p95Early,
            p95Late: p95Late
        )
    }
}

extension ThresholdSpec {
    /// Whether a capacity step is judged by this threshold: the client's are; `capacity` is judged once on the
    /// search's answer, and `server{…}` ones on the step the server's view was taken for.
    public var judgesACapacityStep: Bool { metric != Metric.capacity.rawValue && !selector.isServer }
}
