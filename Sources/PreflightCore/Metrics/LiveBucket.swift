import Histogram

/// One time bucket's figures, sent while the run goes (`--stream`, `--dashboard`): the report's time series point
/// for the same bucket, with each request's counts by status, latency both ways and checks.
public struct LiveBucket: Sendable, Codable, Equatable {
    /// Seconds since the start of the measured phase at the bucket's end: the report's `timeseries[].t`.
    public var t: Double
    /// The bucket's end on the wall clock, seconds since 1970 (Prometheus' sample time).
    public var time: Double
    /// The bucket's width in seconds.
    public var seconds: Double
    public var requests: Int
    /// Requests that failed (no answer, 4xx/5xx, a failed check or capture): the report's `timeseries[].errors`.
    public var errors: Int
    /// Latency from the intended start, ms (the report's `timeseries[].p50/p95/p99`); nil without requests.
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?
    /// The most VUs busy at once.
    public var vus: Int
    /// Iterations dropped (all VUs busy, backlog full) since the bucket before: counted when the bucket is
    /// collected, so a drop can land one bucket late.
    public var droppedIterations: Int
    public var byRequest: [Request]

    /// A request's share of the bucket.
    public struct Request: Sendable, Codable, Equatable {
        public var name: String
        /// Answers by status ("0": no answer).
        public var statuses: [String: Int]
        /// As `http_req_failed` counts them.
        public var failed: Int
        public var checksPassed: Int
        public var checksFailed: Int
        /// From the intended start (coordinated omission corrected), ms.
        public var corrected: Percentiles?
        /// From the send, ms.
        public var uncorrected: Percentiles?

        public var count: Int { statuses.values.reduce(0, +) }
    }

    /// Latency percentiles of one bucket, ms.
    public struct Percentiles: Sendable, Codable, Equatable {
        public var p50: Double
        public var p90: Double
        public var p95: Double
        public var p99: Double
        public var max: Double

        /// The percentiles of `h` (µs), or nil when it is empty.
        public init?(_ h: LatencyHistogram) {
            guard h.totalCount > 0 else { return nil }
            let ms = { (p: Double) in Double(h.valueAtPercentile(p)) / 1000 }
            (p50, p90, p95, p99, max) = (ms(50), ms(90), ms(95), ms(99), Double(h.max) / 1000)
        }
    }

    /// Bucket `index` of a run that started at `startTime` (seconds since 1970), from what the shards recorded;
    /// `names`: the plan's request names, by index.
    public init(
        index: Int,
        bucketSeconds: Double,
        startTime: Double,
        stats: IntervalStats,
        names: [String],
        droppedIterations: Int
    ) {
        t = Double(index + 1) * bucketSeconds
        time = startTime + t
        seconds = bucketSeconds
        requests = stats.requests
        errors = stats.errors
        let ms = { (p: Double) in stats.requests > 0 ? Double(stats.latency.valueAtPercentile(p)) / 1000 : nil }
        (p50, p95, p99) = (ms(50), ms(95), ms(99))
        vus = stats.activeVUs
        self.droppedIterations = droppedIterations
        byRequest = stats.byRequest.sorted { $0.key < $1.key }.map { r, detail in
            Request(
                name: r < names.count ? names[r] : "request \(r)",
                statuses: Dictionary(uniqueKeysWithValues: detail.byStatus.map { (String($0.key), $0.value) }),
                failed: detail.failed,
                checksPassed: detail.checksPassed,
                checksFailed: detail.checksFailed,
                corrected: Percentiles(detail.latency.corrected),
                uncorrected: Percentiles(detail.latency.uncorrected)
            )
        }
    }
}

/// One sample of a named metric with tags, as k6's outputs carry them: what the JSON stream writes a line for and
/// what remote write sends (with the `preflight_` prefix).
public struct LiveSample: Sendable, Equatable {
    /// k6's metric types: a counter adds up, a gauge is the value now, a rate is a share of 0/1 samples, a trend a
    /// distribution (sent as its percentiles, each with a `stat` tag).
    public enum Kind: String, Sendable { case counter, gauge, rate, trend }

    public var metric: String
    public var kind: Kind
    /// Sorted by name.
    public var tags: [(name: String, value: String)]
    public var value: Double
    /// Seconds since 1970.
    public var time: Double

    public init(metric: String, kind: Kind, tags: [(name: String, value: String)], value: Double, time: Double) {
        self.metric = metric
        self.kind = kind
        self.tags = tags.sorted { $0.name < $1.name }
        self.value = value
        self.time = time
    }

    public static func == (a: LiveSample, b: LiveSample) -> Bool {
        a.metric == b.metric && a.kind == b.kind && a.value == b.value && a.time == b.time
            && a.tags.elementsEqual(b.tags) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension LiveBucket {
    /// The bucket as samples with k6's metric names: `http_reqs` (count in the bucket, by name and status),
    /// `http_req_failed` (the bucket's share), `http_req_duration` (percentiles by name; `corrected` tag false for
    /// the time from the send), `vus`, `dropped_iterations`, `checks` (the bucket's share passed). Counters are the bucket's increments,
    /// as k6's JSON points are; remote write adds them up.
    /// `tags` (scenario, run id, segment) go on every sample.
    public func samples(tags: [(name: String, value: String)]) -> [LiveSample] {
        var out: [LiveSample] = []
        func add(_ metric: String, _ kind: LiveSample.Kind, _ extra: [(name: String, value: String)], _ v: Double) {
            out.append(LiveSample(metric: metric, kind: kind, tags: tags + extra, value: v, time: time))
        }
        for r in byRequest {
            for (status, n) in r.statuses.sorted(by: { $0.key < $1.key }) {
                add("http_reqs", .counter, [("name", r.name), ("status", status)], Double(n))
            }
            if r.count > 0 { add("http_req_failed", .rate, [("name", r.name)], Double(r.failed) / Double(r.count)) }
            for (corrected, p) in [("true", r.corrected), ("false", r.uncorrected)] {
                guard let p else { continue }
                for (stat, v) in [
                    ("p(50)", p.p50), ("p(90)", p.p90), ("p(95)", p.p95), ("p(99)", p.p99), ("max", p.max),
                ] {
                    add("http_req_duration", .trend, [("name", r.name), ("stat", stat), ("corrected", corrected)], v)
                }
            }
            let checks = r.checksPassed + r.checksFailed
            if checks > 0 { add("checks", .rate, [("name", r.name)], Double(r.checksPassed) / Double(checks)) }
        }
        add("vus", .gauge, [], Double(vus))
        add("dropped_iterations", .counter, [], Double(droppedIterations))
        return out
    }
}
