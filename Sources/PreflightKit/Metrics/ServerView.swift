import Foundation

/// `target.metrics` (SPEC §13): which of the target's Prometheus series to scrape during a run, and how often.
public struct ServerMetricsSpec: Sendable, Equatable {
    /// A path on the target (`/metrics`) or an absolute `http://` URL (a metrics port of its own).
    public var url: String
    /// Seconds between scrapes; default 1, at least 0.1.
    public var interval: Double
    public var series: [ServerSeriesSpec]

    public init(url: String, interval: Double, series: [ServerSeriesSpec]) {
        self.url = url
        self.interval = interval
        self.series = series
    }
}

/// One series of the server's view: a name for reports and thresholds (`server{NAME}`) and how it is computed.
public struct ServerSeriesSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Per-second increase of the matching counters, summed.
        case rate(SeriesSelector)
        /// The matching gauges, summed, as scraped.
        case gauge(SeriesSelector)
        /// Increase of the numerator's counters over the denominator's (a hit ratio, an error ratio).
        case ratio(SeriesSelector, SeriesSelector)
        /// A quantile (0…1) of the histogram's observations in each interval, as PromQL's `histogram_quantile`.
        case quantile(Double, SeriesSelector)

        public var word: String {
            switch self {
            case .rate: "rate"
            case .gauge: "gauge"
            case .ratio: "ratio"
            case .quantile: "quantile"
            }
        }

        public var selectors: String {
            switch self {
            case .rate(let s), .gauge(let s): s.description
            case .ratio(let n, let d): "\(n) / \(d)"
            case .quantile(let q, let s): "\(JSONValue.format(q)) of \(s)"
            }
        }
    }

    public var name: String
    public var kind: Kind
    /// Multiplies every value (e.g. 1000 to show a `_seconds` histogram in milliseconds).
    public var scale: Double

    public init(name: String, kind: Kind, scale: Double = 1) {
        self.name = name
        self.kind = kind
        self.scale = scale
    }
}

/// One scrape: when (seconds from the run's start; the first is taken just before it) and what came back.
public struct ServerScrape: Sendable {
    public var t: Double
    public var exposition: PrometheusExposition?
    public var error: String?

    public init(t: Double, exposition: PrometheusExposition?, error: String? = nil) {
        self.t = t
        self.exposition = exposition
        self.error = error
    }
}

/// `report.json`'s `server{}`: the target's own view of the run, series by series, on the run's time axis.
public struct ServerSection: Codable, Sendable, Equatable {
    public var url: String
    public var intervalSeconds: Double
    public var scrapes: Int
    public var failedScrapes: Int
    /// The first distinct scrape errors (at most 5).
    public var errors: [String]
    /// Why nothing was scraped (a mock run), else null.
    public var note: String?
    public var series: [Series]

    public struct Series: Codable, Sendable, Equatable {
        public var name: String
        /// `rate`, `gauge`, `ratio` or `quantile`.
        public var kind: String
        public var selector: String
        /// Over the whole run: the rate, ratio or quantile between the first and the last scrape; a gauge's last
        /// value. Null without data (a threshold on it then fails).
        public var value: Double?
        public var min: Double?
        public var max: Double?
        public var avg: Double?
        /// `[t, value]` pairs, t in seconds from the start at the end of each scrape interval.
        public var points: [[Double]]
    }

    /// The value a `server{NAME}` threshold compares: `value`/`rate` (whole run), `avg`, `min`, `max` (over points).
    public func value(series name: String, aggregation: String) -> Double? {
        guard let s = series.first(where: { $0.name == name }) else { return nil }
        switch aggregation {
        case "avg": return s.avg
        case "min": return s.min
        case "max": return s.max
        default: return s.value
        }
    }

    /// A section that says why the server was not scraped.
    public static func skipped(_ spec: ServerMetricsSpec, url: String, note: String) -> ServerSection {
        ServerSection(
            url: url,
            intervalSeconds: spec.interval,
            scrapes: 0,
            failedScrapes: 0,
            errors: [],
            note: note,
            series: spec.series.map {
                Series(name: $0.name, kind: $0.kind.word, selector: $0.kind.selectors, points: [])
            }
        )
    }

    /// Computes every series from the scrapes (failed scrapes are skipped; a counter that went down was reset).
    public static func compute(_ spec: ServerMetricsSpec, url: String, scrapes: [ServerScrape]) -> ServerSection {
        let good = scrapes.compactMap { s in s.exposition.map { (t: s.t, e: $0) } }
        var errors: [String] = []
        for e in scrapes.compactMap(\.error) where !errors.contains(e) && errors.count < 5 { errors.append(e) }
        let series = spec.series.map { spec -> Series in
            var points: [[Double]] = []
            var whole: Double?
            switch spec.kind {
            case .gauge(let sel):
                points = good.map { [$0.t, sum(sel, in: $0.e)] }
                whole = points.last?[1]
            case .rate(let sel):
                for (a, b) in zip(good, good.dropFirst()) where b.t > a.t {
                    points.append([b.t, increase(sum(sel, in: a.e), sum(sel, in: b.e)) / (b.t - a.t)])
                }
                if let a = good.first, let b = good.last, b.t > a.t {
                    whole = increase(sum(sel, in: a.e), sum(sel, in: b.e)) / (b.t - a.t)
                }
            case .ratio(let n, let d):
                let ratio = { (a: PrometheusExposition, b: PrometheusExposition) -> Double? in
                    let den = increase(sum(d, in: a), sum(d, in: b))
                    return den > 0 ? increase(sum(n, in: a), sum(n, in: b)) / den : nil
                }
                for (a, b) in zip(good, good.dropFirst()) {
                    if let r = ratio(a.e, b.e) { points.append([b.t, r]) }
                }
                if let a = good.first, let b = good.last { whole = ratio(a.e, b.e) }
            case .quantile(let q, let sel):
                for (a, b) in zip(good, good.dropFirst()) {
                    if let v = quantile(q, buckets(sel, from: a.e, to: b.e)) { points.append([b.t, v]) }
                }
                if let a = good.first, let b = good.last { whole = quantile(q, buckets(sel, from: a.e, to: b.e)) }
            }
            let scaled = points.map { [$0[0], $0[1] * spec.scale] }
            let values = scaled.map { $0[1] }
            return Series(
                name: spec.name,
                kind: spec.kind.word,
                selector: spec.kind.selectors,
                value: whole.map { $0 * spec.scale },
                min: values.min(),
                max: values.max(),
                avg: values.isEmpty ? nil : values.reduce(0, +) / Double(values.count),
                points: scaled
            )
        }
        return ServerSection(
            url: url,
            intervalSeconds: spec.interval,
            scrapes: scrapes.count,
            failedScrapes: scrapes.count - good.count,
            errors: errors,
            note: nil,
            series: series
        )
    }

    /// The matching samples, summed (NaN samples left out).
    static func sum(_ selector: SeriesSelector, in e: PrometheusExposition, name: String? = nil) -> Double {
        e.samples.reduce(0) { $0 + (selector.matches($1, name: name) && !$1.value.isNaN ? $1.value : 0) }
    }

    /// A counter's increase; a value lower than before means the counter was reset, so all of it is new.
    static func increase(_ before: Double, _ after: Double) -> Double { after >= before ? after - before : after }

    /// The histogram's cumulative buckets (`le` → observations in the interval), summed over matching series.
    static func buckets(
        _ sel: SeriesSelector,
        from a: PrometheusExposition,
        to b: PrometheusExposition
    ) -> [(
        le: Double, count: Double
    )] {
        func cumulative(_ e: PrometheusExposition) -> [Double: Double] {
            var byBound: [Double: Double] = [:]
            for s in e.samples where sel.matches(s, name: sel.name + "_bucket") && !s.value.isNaN {
                guard let le = s.labels["le"].flatMap(PrometheusExposition.value) else { continue }
                byBound[le, default: 0] += s.value
            }
            return byBound
        }
        let before = cumulative(a)
        return cumulative(b).map { (le: $0.key, count: increase(before[$0.key] ?? 0, $0.value)) }
            .sorted { $0.le < $1.le }
    }

    /// PromQL's `histogram_quantile`: linear interpolation inside the bucket holding the rank; a rank in the
    /// `+Inf` bucket answers the highest finite bound; no observations → nil.
    static func quantile(_ q: Double, _ buckets: [(le: Double, count: Double)]) -> Double? {
        guard let total = buckets.last?.count, total > 0, buckets.last?.le == .infinity else { return nil }
        let rank = q * total
        var lowerBound = 0.0
        var lowerCount = 0.0
        for b in buckets {
            if b.count >= rank {
                if b.le == .infinity { return lowerBound }
                let inBucket = b.count - lowerCount
                guard inBucket > 0 else { return b.le }
                return lowerBound + (b.le - lowerBound) * (rank - lowerCount) / inBucket
            }
            lowerBound = b.le
            lowerCount = b.count
        }
        return nil
    }
}
