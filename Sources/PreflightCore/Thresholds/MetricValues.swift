import Histogram

/// The observed value of any (sub-)metric and aggregation a threshold can name, computed from run metrics.
public struct MetricValues: Sendable {
    public var metrics: RunMetrics
    public var requestNames: [String]
    public var durationSeconds: Double
    /// The target's own view (`server{NAME}` thresholds), when it was scraped.
    public var server: ServerSection?
    /// The rate a capacity search confirmed (`capacity` thresholds); nil when it confirmed none, which fails them:
    /// a gate never passes on a rate that was not held.
    public var capacity: Double?

    public init(metrics: RunMetrics, requestNames: [String], durationSeconds: Double, server: ServerSection? = nil) {
        self.metrics = metrics
        self.requestNames = requestNames
        self.durationSeconds = durationSeconds
        self.server = server
    }

    /// The value the threshold compares, or nil when the metric has no data (which fails the threshold: a
    /// latency bound on requests that never ran proves nothing).
    public func value(for t: ThresholdSpec) -> Double? {
        value(t.selector, aggregation: t.aggregation)
    }

    /// The value of what `selector` selects, aggregated; nil when there is no data.
    public func value(_ selector: MetricSelector, aggregation: ThresholdSpec.Aggregation) -> Double? {
        switch selector {
        case .server(let series): server?.value(series: series, aggregation: aggregation.description)
        case .client(let metric, let tags): value(metric, tags: tags, aggregation: aggregation)
        }
    }

    public func value(
        _ metric: Metric,
        tags: [ThresholdSpec.Tag] = [],
        aggregation: ThresholdSpec.Aggregation
    ) -> Double? {
        let name = tags.first { $0.key == "name" }?.value
        let status = tags.first { $0.key == "status" }.flatMap { Int($0.value) }
        let selected = zip(requestNames, metrics.requests).filter { name == nil || $0.0 == name }.map(\.1)
        let rate: (Double) -> Double = { durationSeconds > 0 ? $0 / durationSeconds : 0 }
        switch metric {
        case .httpReqs:
            let count = Double(selected.reduce(0) { $0 + $1.latency(status: status).corrected.totalCount })
            return aggregation == .rate ? rate(count) : count
        case .httpReqDuration:
            var h = LatencyHistogram.latency()
            for r in selected { h.add(r.latency(status: status).corrected) }
            return Self.aggregate(h, aggregation)
        case .httpReqFailed:
            let total = selected.reduce(0) { $0 + Int($1.latency(status: status).corrected.totalCount) }
            guard total > 0 else { return nil }
            return Double(selected.reduce(0) { $0 + $1.failedCount(status: status) }) / Double(total)
        case .checks:
            let passed = selected.reduce(0) { $0 + $1.checksPassed.reduce(0, +) }
            let failed = selected.reduce(0) { $0 + $1.checksFailed.reduce(0, +) }
            guard passed + failed > 0 else { return nil }
            return Double(passed) / Double(passed + failed)
        case .iterations:
            return aggregation == .rate ? rate(Double(metrics.iterations)) : Double(metrics.iterations)
        case .iterationDuration:
            return Self.aggregate(metrics.iterationDuration, aggregation)
        case .droppedIterations:
            let d = Double(metrics.droppedIterations)
            return aggregation == .rate ? rate(d) : d
        case .vus:
            return aggregation == .min ? 0 : Double(metrics.vusPeak)
        case .vusMax:
            return Double(metrics.vusMax)
        case .capacity:
            return capacity
        case .dataReceived:
            let bytes = Double(selected.reduce(0) { $0 + $1.bytesIn })
            return aggregation == .rate ? rate(bytes) : bytes
        case .dataSent:
            let bytes = Double(selected.reduce(0) { $0 + $1.bytesOut })
            return aggregation == .rate ? rate(bytes) : bytes
        case .httpReqBlocked, .httpReqConnecting, .httpReqTLSHandshaking, .httpReqSending, .httpReqWaiting,
            .httpReqReceiving:
            var h = LatencyHistogram.latency()
            if let phase = metric.phase { for r in selected { h.add(r.phases[phase.rawValue]) } }
            return Self.aggregate(h, aggregation)
        case .drillRTO, .drillDetection, .drillRPO, .drillLostWrites, .drillSLORecovered:
            return nil  // drill reports carry their own values
        }
    }

    /// A trend aggregation in milliseconds (count as a number).
    /// A count over no data is 0, well defined (`count==0` can be asserted); every other aggregation over no
    /// data stays nil ("no data"), which fails its threshold.
    package static func aggregate(_ h: LatencyHistogram, _ aggregation: ThresholdSpec.Aggregation) -> Double? {
        if aggregation == .count { return Double(h.totalCount) }
        guard h.totalCount > 0 else { return nil }
        switch aggregation {
        case .percentile(let p): return Double(h.valueAtPercentile(p)) / 1000
        case .avg: return h.mean / 1000
        case .min: return Double(h.min) / 1000
        case .med: return Double(h.valueAtPercentile(50)) / 1000
        case .max: return Double(h.max) / 1000
        case .count: return Double(h.totalCount)
        case .rate, .value: return nil
        }
    }
}

/// A threshold with its observed value and verdict.
public struct ThresholdResult: Sendable, Codable, Equatable {
    public var metric: String
    public var expression: String
    /// Null when the metric had no data; the threshold then fails.
    public var observed: Double?
    public var ok: Bool
    public var abortOnFail: Bool?
    /// True when Preflight added the threshold because the scenario defined none.
    public var `default`: Bool?
    /// Why the threshold was not judged (`server{…}` on the mock, which has no server to scrape; a drill's
    /// detection when the fault was verified by a command and no probe failed). A skipped threshold neither passes
    /// nor fails the run: `ok` is true so that it does not fail it, and every report shows it as skipped.
    public var skipped: String?

    public init(
        metric: String,
        expression: String,
        observed: Double?,
        ok: Bool,
        abortOnFail: Bool? = nil,
        default: Bool? = nil,
        skipped: String? = nil
    ) {
        self.metric = metric
        self.expression = expression
        self.observed = observed
        self.ok = ok
        self.abortOnFail = abortOnFail
        self.default = `default`
        self.skipped = skipped
    }

    /// ✓ passed, ✗ failed, – skipped: the mark every report format shows beside the threshold.
    public var mark: String { skipped != nil ? "–" : ok ? "✓" : "✗" }

    /// A threshold not judged, with the reason.
    public static func skipped(metric: String, expression: String, why: String) -> ThresholdResult {
        ThresholdResult(metric: metric, expression: expression, observed: nil, ok: true, skipped: why)
    }

    package enum CodingKeys: String, CodingKey {
        case metric, expression, observed, ok, abortOnFail, `default`, skipped
    }

    /// `observed` is written as `null` when there was no data, as the README promises, never left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(metric, forKey: .metric)
        try c.encode(expression, forKey: .expression)
        try c.encode(observed, forKey: .observed)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(abortOnFail, forKey: .abortOnFail)
        try c.encodeIfPresent(`default`, forKey: .default)
        try c.encodeIfPresent(skipped, forKey: .skipped)
    }

    public static func evaluate(_ thresholds: [ThresholdSpec], values: MetricValues) -> [ThresholdResult] {
        thresholds.map { t in
            let observed = values.value(for: t)
            return ThresholdResult(
                metric: t.metric,
                expression: t.expression,
                observed: observed,
                ok: observed.map { t.op.holds($0, t.bound) } ?? false,
                abortOnFail: t.abortOnFail ? true : nil,
                default: t.isDefault ? true : nil
            )
        }
    }
}
