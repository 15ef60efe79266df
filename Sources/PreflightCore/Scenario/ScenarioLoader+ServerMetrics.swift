import Foundation

/// `target.metrics`: the target's Prometheus endpoint and the series to keep (SPEC §13).
extension Reader {
    /// At most this many series: each is charted and stored per scrape.
    package static let maxServerSeries = 32

    package func serverMetrics(_ node: JSONNode) -> ServerMetricsSpec? {
        guard let obj = node.object(keys: ["url", "interval", "series"]) else { return nil }
        var url: String?
        if let n = obj.required("url", hint: "a path on the target such as \"/metrics\", or http://host:port/metrics"),
            let s = n.string()
        {
            if s.hasPrefix("/") {
                url = s
            } else if case .success = TargetURL.parse(s), s.hasPrefix("http://") {
                url = s
            } else {
                n.fail("must be a path starting with / or an http:// URL, got \"\(TargetURL.masked(s))\"")
            }
        }
        var interval = 1.0
        if let n = obj.optional("interval"), let d = n.duration() {
            if d < 0.1 {
                n.fail("must be at least 100ms", hint: "each scrape is a request to the target")
            } else {
                interval = d
            }
        }
        var series: [ServerSeriesSpec] = []
        if let n = obj.required(
            "series",
            hint: #"e.g. [{"name": "cache_hit_ratio", "ratio": ["hits_total", "lookups_total"]}]"#
        ),
            let items = n.array()
        {
            if items.isEmpty { n.fail("must name at least one series") }
            if items.count > Self.maxServerSeries { n.fail("at most \(Self.maxServerSeries) series") }
            for item in items {
                guard let s = serverSeries(item) else { continue }
                if series.contains(where: { $0.name == s.name }) {
                    item.fail("repeats the name \"\(s.name)\"", hint: "names must be unique: thresholds use them")
                } else {
                    series.append(s)
                }
            }
        }
        guard let url, !series.isEmpty else { return nil }
        return ServerMetricsSpec(url: url, interval: interval, series: series)
    }

    package func serverSeries(_ node: JSONNode) -> ServerSeriesSpec? {
        let kinds = ["rate", "gauge", "ratio", "histogram"]
        guard let obj = node.object(keys: ["name", "scale", "quantile"] + kinds) else { return nil }
        var name: String?
        if let n = obj.required("name"), let s = n.string() {
            if s.range(of: #"^[a-z_][a-z0-9_]{0,63}$"#, options: .regularExpression) == nil {
                n.fail(
                    "must be lower-case letters, digits and _ (at most 64), got \"\(s)\"",
                    hint: "it names server{NAME}"
                )
            } else {
                name = s
            }
        }
        let scale = obj.optional("scale").flatMap { $0.number(greaterThan: 0) } ?? 1
        let given = kinds.filter { obj.has($0) }
        guard given.count == 1 else {
            node.fail(
                given.isEmpty
                    ? "needs one of rate, gauge, ratio, histogram"
                    : "has \(given.joined(separator: " and ")); pick one",
                hint: #"e.g. {"name": "rps", "rate": "http_requests_total"}"#
            )
            return nil
        }
        let kind: ServerSeriesSpec.Kind?
        switch given[0] {
        case "rate": kind = obj.optional("rate").flatMap(selector).map { .rate($0) }
        case "gauge": kind = obj.optional("gauge").flatMap(selector).map { .gauge($0) }
        case "ratio":
            let n = obj.optional("ratio")!
            if let pair = n.array(), pair.count == 2 {
                kind = selector(pair[0]).flatMap { a in selector(pair[1]).map { .ratio(a, $0) } }
            } else {
                n.fail("must be [numerator, denominator] selectors", hint: #"e.g. ["hits_total", "lookups_total"]"#)
                kind = nil
            }
        default:
            let q = obj.required("quantile", hint: "0.95 for p95")?.number(atLeast: 0, atMost: 1)
            kind = obj.optional("histogram").flatMap(selector).flatMap { s in q.map { .quantile($0, s) } }
        }
        if given[0] != "histogram", let n = obj.optional("quantile") { n.fail("is only for a histogram series") }
        guard let name, let kind else { return nil }
        return ServerSeriesSpec(name: name, kind: kind, scale: scale)
    }

    package func selector(_ node: JSONNode) -> SeriesSelector? {
        guard let s = node.string() else { return nil }
        switch SeriesSelector.parse(s) {
        case .success(let sel): return sel
        case .failure(let e):
            node.fail("\"\(s)\" is not a selector: \(e.message)", hint: #"name or name{label="value"}"#)
            return nil
        }
    }
}
