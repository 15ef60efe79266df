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
        /// Why the series has no data although the server was scraped: the selector that matched nothing and the
        /// closest series the scrape did have. Absent when it matched.
        public var noData: String?

        public init(
            name: String,
            kind: String,
            selector: String,
            value: Double? = nil,
            min: Double? = nil,
            max: Double? = nil,
            avg: Double? = nil,
            points: [[Double]],
            noData: String? = nil
        ) {
            self.name = name
            self.kind = kind
            self.selector = selector
            self.value = value
            self.min = min
            self.max = max
            self.avg = avg
            self.points = points
            self.noData = noData
        }
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
    ///
    /// A selector that matches no sample in a scrape (or only NaN samples) gives no data for that scrape, never a
    /// 0: a typo in a selector, or a series the server does not export, must fail a threshold, not pass
    /// `max==0`. An interval shorter than half the scrape interval at the end (the final scrape, taken just
    /// after the last answer) is merged into the interval before it, so an idle tail does not read as a rate of 0.
    public static func compute(_ spec: ServerMetricsSpec, url: String, scrapes: [ServerScrape]) -> ServerSection {
        let good = scrapes.compactMap { s in s.exposition.map { (t: s.t, e: $0) } }
        var errors: [String] = []
        for e in scrapes.compactMap(\.error) where !errors.contains(e) && errors.count < 5 { errors.append(e) }
        // The scrapes that end an interval: the second-to-last is left out when the last comes soon after it.
        var bounds = good
        if bounds.count >= 3, bounds[bounds.count - 1].t - bounds[bounds.count - 2].t < spec.interval / 2 {
            bounds.remove(at: bounds.count - 2)
        }
        let intervals = Array(zip(bounds, bounds.dropFirst()))
        let series = spec.series.map { spec -> Series in
            var points: [[Double]] = []
            var whole: Double?
            switch spec.kind {
            case .gauge(let sel):
                points = good.compactMap { g in sum(sel, in: g.e).map { [g.t, $0] } }
                whole = points.last?[1]
            case .rate(let sel):
                let rate = { (a: (t: Double, e: PrometheusExposition), b: (t: Double, e: PrometheusExposition)) in
                    guard b.t > a.t, let x = sum(sel, in: a.e), let y = sum(sel, in: b.e) else { return Double?.none }
                    return increase(x, y) / (b.t - a.t)
                }
                for (a, b) in intervals { if let r = rate(a, b) { points.append([b.t, r]) } }
                if let a = good.first, let b = good.last { whole = rate(a, b) }
            case .ratio(let n, let d):
                let ratio = { (a: PrometheusExposition, b: PrometheusExposition) -> Double? in
                    guard let d0 = sum(d, in: a), let d1 = sum(d, in: b), let n0 = sum(n, in: a),
                        let n1 = sum(n, in: b)
                    else { return nil }
                    let den = increase(d0, d1)
                    return den > 0 ? increase(n0, n1) / den : nil
                }
                for (a, b) in intervals {
                    if let r = ratio(a.e, b.e) { points.append([b.t, r]) }
                }
                if let a = good.first, let b = good.last { whole = ratio(a.e, b.e) }
            case .quantile(let q, let sel):
                for (a, b) in intervals {
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
                points: scaled,
                noData: good.isEmpty ? nil : noDataNote(spec.kind, scrapes: good.map(\.e))
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

    /// Why a series has no data although scrapes came back: the selectors that matched no sample in any scrape,
    /// each with the closest metric names the server did export. Nil when every selector matched somewhere.
    package static func noDataNote(_ kind: ServerSeriesSpec.Kind, scrapes: [PrometheusExposition]) -> String? {
        let selectors: [(SeriesSelector, String)] =
            switch kind {
            case .rate(let s), .gauge(let s): [(s, s.name)]
            case .ratio(let n, let d): [(n, n.name), (d, d.name)]
            case .quantile(_, let s): [(s, s.name + "_bucket")]
            }
        var names: Set<String> = []
        for e in scrapes { for s in e.samples { names.insert(s.name) } }
        let missing = selectors.filter { sel, name in
            !scrapes.contains { e in e.samples.contains { sel.matches($0, name: name) && !$0.value.isNaN } }
        }
        guard !missing.isEmpty else { return nil }
        return missing.map { sel, name in
            let close = closest(to: name, among: names)
            let sameName = names.contains(name)
            var text = "\(sel) matched no sample"
            if sameName {
                text +=
                    sel.matchers.isEmpty
                    ? " (only NaN values)" : " (\(name) is exported, but not with these labels)"
            } else if !close.isEmpty {
                text += "; closest series scraped: \(close.joined(separator: ", "))"
            } else {
                text += "; the scrape had no series of a similar name"
            }
            return text
        }.joined(separator: "; ")
    }

    /// Up to three names nearest to `name` by edit distance (within half its length), nearest first.
    package static func closest(to name: String, among names: Set<String>) -> [String] {
        let target = Array(name.utf8)
        let limit = Swift.max(3, target.count / 2)
        var scored: [(name: String, distance: Int)] = []
        for candidate in names {
            let d = editDistance(target, Array(candidate.utf8))
            if d <= limit { scored.append((candidate, d)) }
        }
        scored.sort { a, b in a.distance != b.distance ? a.distance < b.distance : a.name < b.name }
        return scored.prefix(3).map(\.name)
    }

    package static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                )
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The matching samples, summed (NaN samples left out); nil when no sample matched (no data, not 0).
    package static func sum(_ selector: SeriesSelector, in e: PrometheusExposition, name: String? = nil) -> Double? {
        var total: Double?
        for s in e.samples where selector.matches(s, name: name) && !s.value.isNaN { total = (total ?? 0) + s.value }
        return total
    }

    /// A counter's increase; a value lower than before means the counter was reset, so all of it is new.
    package static func increase(_ before: Double, _ after: Double) -> Double {
        after >= before ? after - before : after
    }

    /// The histogram's cumulative buckets (`le` → observations in the interval), summed over matching series.
    package static func buckets(
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
    package static func quantile(_ q: Double, _ buckets: [(le: Double, count: Double)]) -> Double? {
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
