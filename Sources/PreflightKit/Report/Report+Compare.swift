import Foundation
import PreflightCore

/// `preflight compare` (SPEC §13): a new run against a stored baseline of the same scenario, metric by metric,
/// from the stored HDR histograms and counters, not from rounded summaries.
public enum ReportComparison {
    /// `--max-regression 'METRIC:AGGREGATION:PCT%'`, e.g. `http_req_duration{name:features}:p(95):10%`.
    public struct Limit: Sendable {
        /// The threshold-style selection (metric, tags, aggregation) the limit applies to.
        public var spec: ThresholdSpec
        /// The largest allowed worsening, in percent of the baseline value.
        public var percent: Double
        public var text: String

        /// Parses the option; the error says what is wrong and what would be right.
        public static func parse(_ text: String, requestNames: Set<String>? = nil) -> Result<Limit, Refusal> {
            // The metric may hold a colon inside its tag braces: `http_req_duration{name:features}`.
            let metricEnd: String.Index
            if let close = text.firstIndex(of: "}") {
                metricEnd = text.index(after: close)
            } else {
                metricEnd = text.firstIndex(of: ":") ?? text.endIndex
            }
            let metric = String(text[..<metricEnd])
            let rest = text[metricEnd...].split(separator: ":", omittingEmptySubsequences: false).dropFirst()
            let usage = "write METRIC:AGGREGATION:PCT%, e.g. http_req_duration{name:features}:p(95):10%"
            guard rest.count == 2, text[metricEnd...].hasPrefix(":") else {
                return .failure(Refusal(description: "--max-regression \(text): \(usage)"))
            }
            let aggregation = String(rest[rest.startIndex])
            var pct = String(rest[rest.index(after: rest.startIndex)])
            if pct.hasSuffix("%") { pct.removeLast() }
            guard let percent = Double(pct), percent.isFinite, percent >= 0, percent <= 10_000 else {
                return .failure(
                    Refusal(description: "--max-regression \(text): the limit must be a percentage 0…10000, \(usage)")
                )
            }
            switch ThresholdSpec.parse(metric: metric, expression: "\(aggregation)<1", requestNames: requestNames) {
            case .success(let spec): return .success(Limit(spec: spec, percent: percent, text: text))
            case .failure(let r):
                return .failure(Refusal(description: "--max-regression \(text): \(r.message)"))
            }
        }
    }

    /// Why two reports cannot be compared, or a bad option.
    public struct Refusal: Error, Sendable, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// One judged (or not judged) limit.
    public struct Row: Sendable, Equatable {
        public enum Outcome: Sendable, Equatable {
            case ok
            case regression
            /// Too few requests on one side to say anything.
            case notJudged(String)
            /// The difference is smaller than the histograms can tell apart, or than the earlier runs vary.
            case withinPrecision
            case withinNoise(band: Double)
        }

        public var limit: String
        /// `regression{METRIC:AGGREGATION}`, the name it has among a run's thresholds.
        public var name: String
        public var baseline: Double?
        public var new: Double?
        /// (new − baseline) / baseline in percent; positive is worse for latency, error rates and failures.
        public var changePercent: Double?
        public var limitPercent: Double
        public var outcome: Outcome

        public var failed: Bool { outcome == .regression }

        /// (new − baseline) / baseline in percent with its own sign: a drop from 1,200 to 400 requests is −66.7 %.
        public var signedChangePercent: Double? {
            guard let baseline, let new else { return nil }
            if baseline == 0 { return new == 0 ? 0 : new > 0 ? .infinity : -.infinity }
            return (new - baseline) / baseline.magnitude * 100
        }

        /// `worse`, `better` or `same`, by the metric's direction (lower latency is better, more requests too).
        public var direction: String? {
            guard let changePercent else { return nil }
            return changePercent > 0 ? "worse" : changePercent < 0 ? "better" : "same"
        }

        /// The signed change and its direction: `-66.7 % (worse)`.
        public var changeText: String {
            guard let signed = signedChangePercent, let direction else { return "–" }
            return Self.percentText(signed) + (direction == "same" ? "" : " (\(direction))")
        }

        static func percentText(_ p: Double) -> String {
            p.isFinite ? String(format: "%+.1f %%", p) : p > 0 ? "+∞ %" : "−∞ %"
        }
    }

    /// Samples smaller than this per compared selection are not judged.
    public static let defaultMinCount = 1000
    /// HDR histograms keep 3 significant digits: values within two buckets (0.2 %) cannot be told apart.
    public static let precisionPercent = 0.2

    /// Compares `new` with `baseline` on each limit. Refuses reports of different scenarios unless `force`.
    public static func compare(
        baseline: Report,
        new: Report,
        limits: [Limit],
        minCount: Int = defaultMinCount,
        noiseRuns: [Report] = [],
        force: Bool = false
    ) throws(Refusal) -> [Row] {
        for (name, r) in [("baseline", baseline), ("new", new)] + noiseRuns.map({ ("noise run", $0) }) {
            guard r.drill == nil else {
                throw Refusal(description: "the \(name) report is a drill's; compare load runs")
            }
            guard force || r.scenario.sha256 == baseline.scenario.sha256 else {
                throw Refusal(
                    description: "the \(name) report is of another scenario (scenario.sha256 "
                        + "\(r.scenario.sha256.prefix(12))… vs the baseline's \(baseline.scenario.sha256.prefix(12))…); "
                        + "compare runs of one scenario file, or give --force"
                )
            }
        }
        let base = values(of: baseline)
        let now = values(of: new)
        let noise = noiseRuns.map(values(of:))
        return limits.map { limit in
            let spec = limit.spec
            let name = "regression{\(spec.metric):\(spec.aggregation)}"
            let b = base.value(for: spec)
            let n = now.value(for: spec)
            let counts = [base, now].map { count(of: spec, in: $0) }
            var row = Row(
                limit: limit.text,
                name: name,
                baseline: b,
                new: n,
                changePercent: nil,
                limitPercent: limit.percent,
                outcome: .ok
            )
            // A capacity is one answer of a whole search, not a statistic of samples: no minimum count.
            if spec.selector.metric != .capacity, let small = counts.min(), small < minCount {
                row.outcome = .notJudged("\(small) requests on one side, fewer than the minimum \(minCount)")
                return row
            }
            guard let b, let n else {
                row.outcome = .notJudged("no data on one side")
                return row
            }
            let worse = worsening(of: spec, baseline: b, new: n)
            row.changePercent = worse
            if worse.magnitude <= precisionPercent && isLatency(spec) {
                row.outcome = .withinPrecision
                return row
            }
            if noise.count >= 2 {
                let samples = noise.compactMap { $0.value(for: spec) } + [b]
                let mean = samples.reduce(0, +) / Double(samples.count)
                let sd = (samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count - 1))
                    .squareRoot()
                if (n - b).magnitude <= 2 * sd {
                    row.outcome = .withinNoise(band: 2 * sd)
                    return row
                }
            }
            row.outcome = worse > limit.percent ? .regression : .ok
            return row
        }
    }

    /// The change in percent, signed so that positive is worse: higher latency, error rate, failures, drops; lower
    /// request rate, checks, iterations, capacity.
    static func worsening(of spec: ThresholdSpec, baseline b: Double, new n: Double) -> Double {
        let higherIsBetter: Set<Metric> = [.checks, .httpReqs, .iterations, .capacity]
        let sign: Double = spec.selector.metric.map { higherIsBetter.contains($0) } == true ? -1 : 1
        if b == 0 { return n == 0 ? 0 : sign * (n > 0 ? .infinity : -.infinity) }
        return sign * (n - b) / b.magnitude * 100
    }

    /// A latency of HDR histograms (a request's, a phase's, an iteration's): the precision rule applies.
    static func isLatency(_ spec: ThresholdSpec) -> Bool { spec.selector.metric?.unit == .milliseconds }

    static func values(of r: Report) -> MetricValues {
        var values = MetricValues(
            metrics: ReportMerge.runMetrics(of: r),
            requestNames: r.requests.map(\.name),
            durationSeconds: r.run.durationSeconds
        )
        // Only a confirmed capacity compares: an unconfirmed one is "no data on one side".
        values.capacity = r.capacity.flatMap { $0.confirmed ? $0.sustainableRate : nil }
        return values
    }

    /// Requests the selection covers (its tags, every status unless one is named).
    static func count(of spec: ThresholdSpec, in values: MetricValues) -> Int {
        Int(values.value(.httpReqs, tags: spec.tags, aggregation: .count) ?? 0)
    }

    /// The comparison as a table for a terminal or a step summary.
    public static func table(_ rows: [Row], baseline: Report, new: Report) -> String {
        func number(_ v: Double?, _ spec: String) -> String {
            guard let v else { return "–" }
            return Metric(expression: spec)?.unit == .milliseconds
                ? HumanFormat.ms(v) : JSONValue.format((v * 1000).rounded() / 1000)
        }
        var lines = [
            "baseline \(baseline.run.id.prefix(8)) (\(ISO8601DateFormatter().string(from: baseline.run.startedAt))) "
                + "vs new \(new.run.id.prefix(8)) (\(ISO8601DateFormatter().string(from: new.run.startedAt))), "
                + "scenario \(new.scenario.name)"
        ]
        var table = [["limit", "baseline", "new", "change", "allowed", "result"]]
        for row in rows {
            let metric = String(row.limit.split(separator: ":").first ?? "")
            let result: String =
                switch row.outcome {
                case .ok: "ok"
                case .regression: "REGRESSION"
                case .notJudged(let why): "not judged: \(why)"
                case .withinPrecision: "ok (within the histogram's precision)"
                case .withinNoise(let band): "ok (within run-to-run noise ±\(number(band, metric)))"
                }
            table.append([
                row.limit, number(row.baseline, metric), number(row.new, metric),
                row.changeText,
                String(format: "%.1f %%", row.limitPercent), result,
            ])
        }
        lines += TextSummary.table(table, left: [0, 5])
        let failed = rows.filter(\.failed)
        lines.append(
            failed.isEmpty
                ? "no regression beyond its limit"
                : "\(failed.count) of \(rows.count) limits exceeded, first \(failed[0].name)"
        )
        return lines.joined(separator: "\n")
    }
}
