import Foundation

/// One threshold expression on one (sub-)metric, as k6 writes it: `"http_req_duration{name:x}": ["p(95)<300"]`.
public struct ThresholdSpec: Sendable, Equatable {
    public enum Aggregation: Sendable, Equatable, CustomStringConvertible {
        case percentile(Double)
        case avg, min, med, max, count, rate, value

        public var description: String {
            switch self {
            case .percentile(let p): "p(\(JSONValue.format(p)))"
            case .avg: "avg"
            case .min: "min"
            case .med: "med"
            case .max: "max"
            case .count: "count"
            case .rate: "rate"
            case .value: "value"
            }
        }
    }

    public enum Operator: String, Sendable, CaseIterable {
        case lessOrEqual = "<="
        case greaterOrEqual = ">="
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case greater = ">"

        public func holds(_ lhs: Double, _ rhs: Double) -> Bool {
            switch self {
            case .less: lhs < rhs
            case .lessOrEqual: lhs <= rhs
            case .greater: lhs > rhs
            case .greaterOrEqual: lhs >= rhs
            case .equal: lhs == rhs
            case .notEqual: lhs != rhs
            }
        }
    }

    /// The key as written, e.g. `http_req_duration{name:features}`.
    public var metric: String
    /// What the key selects: a catalog metric with its tag filters, or a series of the target's own metrics.
    public var selector: MetricSelector
    /// The expression as written, e.g. `p(95)<300`.
    public var expression: String
    public var aggregation: Aggregation
    public var op: Operator
    /// The bound; milliseconds for durations.
    public var bound: Double
    /// Stop the run as soon as this threshold fails (after `delayAbortEval`).
    public var abortOnFail: Bool = false
    /// Seconds from the start before an abort is considered.
    public var delayAbortEval: Double = 0
    /// Added by Preflight because the scenario has no `thresholds` key.
    public var isDefault = false

    public struct Tag: Sendable, Equatable {
        public var key: String
        public var value: String
    }

    /// Parses a metric key such as `http_req_duration{name:features,status:200}`.
    package static func parseMetric(
        _ key: String,
        requestNames: Set<String>?
    ) -> Result<(Metric, [Tag]), ScenarioProblem.Reason> {
        var name = Substring(key)
        var tags: [Tag] = []
        if let open = key.firstIndex(of: "{") {
            guard key.hasSuffix("}") else {
                return .failure(.init("has an unclosed tag filter", hint: "write metric{tag:value}"))
            }
            name = key[..<open]
            let inner = key[key.index(after: open)..<key.index(before: key.endIndex)]
            for pair in inner.split(separator: ",", omittingEmptySubsequences: false) {
                let kv = pair.split(separator: ":", maxSplits: 1)
                guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                    return .failure(.init("has a malformed tag \"\(pair)\"", hint: "write metric{tag:value}"))
                }
                tags.append(
                    Tag(
                        key: kv[0].trimmingCharacters(in: .whitespaces),
                        value: kv[1].trimmingCharacters(in: .whitespaces)
                    )
                )
            }
        }
        let metricName = String(name)
        guard let metric = Metric(rawValue: metricName), let info = MetricCatalog.metrics[metricName] else {
            return .failure(
                .init(
                    "unknown metric \"\(metricName)\"",
                    hint: "known metrics: \(MetricCatalog.metrics.keys.sorted().joined(separator: ", "))"
                )
            )
        }
        for tag in tags {
            guard info.tags.contains(tag.key) else {
                let allowed = info.tags.isEmpty ? "none" : info.tags.sorted().joined(separator: ", ")
                return .failure(.init("metric \(metricName) has no tag \"\(tag.key)\"", hint: "its tags: \(allowed)"))
            }
            if tag.key == "name", let requestNames, !requestNames.contains(tag.value) {
                return .failure(
                    .init(
                        "no request is named \"\(tag.value)\"",
                        hint: "requests: \(requestNames.sorted().joined(separator: ", "))"
                    )
                )
            }
            if tag.key == "status", Int(tag.value).map({ (100...599).contains($0) }) != true {
                return .failure(.init("status tag must be an HTTP status code, got \"\(tag.value)\""))
            }
        }
        return .success((metric, tags))
    }

    /// Parses an expression such as `p(95)<300` for a metric of the given kind, with k6's rules: whitespace around
    /// the whole expression and around the operator, nowhere else (so a stray space can never move a gate:
    /// `count<1 0` is an error, not `count<10`); bounds are decimal numbers with an optional sign, fraction and
    /// exponent (`-1.5`, `1e3`, `.01`, `5.`), finite, never hex; `===` is accepted as `==`, as k6 does.
    package static func parseExpression(
        _ text: String,
        kind: MetricCatalog.Kind
    ) -> Result<
        (Aggregation, Operator, Double), ScenarioProblem.Reason
    > {
        let chars = Array(text.trimmingCharacters(in: .whitespaces))
        var i = 0
        let quoted: (Character) -> String = { "\"\($0)\"" }
        let operatorChars: Set<Character> = ["<", ">", "=", "!"]
        func skipSpaces() { while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 } }
        // The aggregation: a lower-case word, and for p a percentile in parentheses without spaces.
        let nameStart = i
        while i < chars.count, chars[i].isASCII, chars[i].isLetter || (i > nameStart && chars[i].isNumber) { i += 1 }
        let name = String(chars[nameStart..<i])
        guard !name.isEmpty else {
            return .failure(
                .init(
                    chars.isEmpty ? "is empty" : "must start with an aggregation, got \(quoted(chars[0]))",
                    hint: "write aggregation, operator and value, like p(95)<300"
                )
            )
        }
        var agg: Aggregation
        switch name {
        case "avg": agg = .avg
        case "min": agg = .min
        case "med": agg = .med
        case "max": agg = .max
        case "count": agg = .count
        case "rate": agg = .rate
        case "value": agg = .value
        case "p" where i < chars.count && chars[i] == "(":
            i += 1
            let numberStart = i
            while i < chars.count, chars[i] != ")" { i += 1 }
            let inner = String(chars[numberStart..<min(i, chars.count)])
            guard i < chars.count else {
                return .failure(.init("p( has no closing parenthesis", hint: "write p(95)"))
            }
            i += 1
            // k6 reads `p(.5)` and `p(99.)` too: digits on at least one side of the point.
            let decimal =
                inner.range(of: #"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$"#, options: .regularExpression) != nil
            guard decimal, let p = Double(inner) else {
                return .failure(
                    .init("percentile \"\(inner)\" is not a number", hint: "write p(95) or p(99.9), without spaces")
                )
            }
            guard p >= 0, p <= 100 else {
                return .failure(.init("percentile must be within 0–100, got \(inner)", hint: "e.g. p(99.9)"))
            }
            agg = .percentile(p)
        default:
            return .failure(
                .init(
                    "unknown aggregation \"\(name)\"",
                    hint: name.hasPrefix("p") && name.dropFirst().allSatisfy(\.isNumber)
                        ? "write the percentile in parentheses right after p, like p(95)"
                        : "allowed here: \(MetricCatalog.aggregations(for: kind))"
                )
            )
        }
        skipSpaces()
        // The operator; `===` is k6's spelling of `==`.
        let rest = String(chars[i...])
        let spellings: [(String, Operator)] = [
            ("===", .equal), ("<=", .lessOrEqual), (">=", .greaterOrEqual), ("==", .equal), ("!=", .notEqual),
            ("<", .less), (">", .greater),
        ]
        guard let (spelling, op) = spellings.first(where: { rest.hasPrefix($0.0) }) else {
            if i < chars.count {
                return .failure(
                    .init(
                        "unexpected \(quoted(chars[i])) after the aggregation \(agg)",
                        hint: "follow it with one of < <= > >= == !=, like \(agg)<300"
                    )
                )
            }
            return .failure(.init("has no comparison", hint: "write aggregation, operator and value, like p(95)<300"))
        }
        i += spelling.count
        skipSpaces()
        if i < chars.count, operatorChars.contains(chars[i]) {
            return .failure(
                .init(
                    "unexpected \(quoted(chars[i])) after the operator \(spelling)",
                    hint: "operators are written without spaces inside: < <= > >= == !="
                )
            )
        }
        // The bound: a decimal number, sign, fraction and exponent allowed.
        let boundStart = i
        if i < chars.count, chars[i] == "-" || chars[i] == "+" { i += 1 }
        // Digits on at least one side of the point, as k6 (JavaScript) reads them: `.01` and `5.` are numbers.
        let digitsStart = i
        while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
        var digits = i - digitsStart
        if i < chars.count, chars[i] == "." {
            i += 1
            let fraction = i
            while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
            digits += i - fraction
        }
        var boundOK = digits > 0
        if boundOK, i < chars.count, chars[i] == "e" || chars[i] == "E" {
            i += 1
            if i < chars.count, chars[i] == "-" || chars[i] == "+" { i += 1 }
            let exponent = i
            while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
            boundOK = i > exponent
        }
        let boundText = String(chars[boundStart..<i])
        guard boundOK, let bound = Double(boundText) else {
            let shown = String(chars[boundStart...])
            return .failure(
                .init(
                    "bound \"\(shown)\" is not a number",
                    hint:
                        "a decimal number like 300 or 0.01 (durations are plain milliseconds); no hex, NaN or Infinity"
                )
            )
        }
        guard bound.isFinite else {
            return .failure(.init("bound \(boundText) is too large", hint: "use a finite number"))
        }
        skipSpaces()
        guard i == chars.count else {
            return .failure(
                .init(
                    "unexpected \(quoted(chars[i])) after the bound \(boundText)",
                    hint: "nothing may follow the number; a space inside a number is not allowed"
                )
            )
        }
        let allowed: Bool
        switch (kind, agg) {
        case (.trend, .percentile), (.trend, .avg), (.trend, .min), (.trend, .med), (.trend, .max), (.trend, .count):
            allowed = true
        case (.counter, .count), (.counter, .rate), (.rate, .rate), (.gauge, .value), (.gauge, .min), (.gauge, .max):
            allowed = true
        case (.server, .value), (.server, .rate), (.server, .avg), (.server, .min), (.server, .max):
            allowed = true
        default: allowed = false
        }
        guard allowed else {
            return .failure(
                .init(
                    "aggregation \(agg) does not apply to a \(kind.rawValue) metric",
                    hint: "allowed here: \(MetricCatalog.aggregations(for: kind))"
                )
            )
        }
        return .success((agg, op, bound))
    }

    /// Parses one threshold entry of a scenario.
    ///
    /// `requestNames` nil skips checking `name` tags (used when the requests themselves did not validate).
    ///
    /// `server{NAME}` names a series of `target.metrics`; `serverSeries` nil skips checking that it exists.
    public static func parse(
        metric key: String,
        expression: String,
        requestNames: Set<String>?,
        serverSeries: Set<String>? = nil
    ) -> Result<
        ThresholdSpec, ScenarioProblem.Reason
    > {
        if key.hasPrefix("server{") || key == "server" {
            let series = key.hasSuffix("}") ? String(key.dropFirst("server{".count).dropLast()) : ""
            guard !series.isEmpty else {
                return .failure(.init("names no series", hint: "write server{NAME} with a name from target.metrics"))
            }
            if let serverSeries, !serverSeries.contains(series) {
                return .failure(
                    .init(
                        "target.metrics has no series \"\(series)\"",
                        hint: serverSeries.isEmpty
                            ? "add target.metrics with a series of that name"
                            : "its series: \(serverSeries.sorted().joined(separator: ", "))"
                    )
                )
            }
            return parseExpression(expression, kind: .server).map { agg, op, bound in
                ThresholdSpec(
                    metric: key,
                    selector: .server(series: series),
                    expression: expression,
                    aggregation: agg,
                    op: op,
                    bound: bound
                )
            }
        }
        let (metric, tags): (Metric, [Tag])
        switch parseMetric(key, requestNames: requestNames) {
        case .success(let v): (metric, tags) = v
        case .failure(let r): return .failure(r)
        }
        switch parseExpression(expression, kind: metric.kind) {
        case .success(let (agg, op, bound)):
            return .success(
                ThresholdSpec(
                    metric: key,
                    selector: .client(metric, tags: tags),
                    expression: expression,
                    aggregation: agg,
                    op: op,
                    bound: bound
                )
            )
        case .failure(let r): return .failure(r)
        }
    }
}

/// What a threshold measures: one of the catalog's metrics narrowed by tags (`http_req_duration{name:features}`),
/// or a series of the target's own metrics (`server{cache_hit_ratio}`, SPEC §13), which only a scrape can judge.
public enum MetricSelector: Sendable, Equatable {
    case client(Metric, tags: [ThresholdSpec.Tag])
    case server(series: String)

    /// The catalog metric, nil for a server series.
    public var metric: Metric? {
        if case .client(let metric, _) = self { metric } else { nil }
    }

    /// The tag filters of a catalog metric (a server series has none).
    public var tags: [ThresholdSpec.Tag] {
        if case .client(_, let tags) = self { tags } else { [] }
    }

    /// Whether it names a server series.
    public var isServer: Bool {
        if case .server = self { true } else { false }
    }
}

extension ThresholdSpec {
    /// The tag filters of the selector.
    public var tags: [Tag] { selector.tags }
}
