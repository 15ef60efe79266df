import Foundation
import PreflightCore

/// The one-screen text summary printed after a run (k6-like).
public enum TextSummary {
    public static func render(_ report: Report, folder: String?) -> String {
        var lines: [String] = []
        let mode = report.transport.mode.word
        lines.append("\(report.tool.name) \(report.tool.version) — \(report.scenario.name) (\(report.scenario.file))")
        lines.append(
            "target \(report.target.baseURL) · transport \(mode) · \(Report.protocols(report)) · "
                + "\(report.run.executor.name) · "
                + "\(DurationText.format(seconds: report.run.durationSeconds)) · seed \(report.run.seed)"
        )
        if report.transport.mode == .mock {
            lines.append("MOCK TRANSPORT — \(report.transport.reason); results do not describe the target")
        }
        if let h = report.run.harness, h.saturated {
            lines.append(
                "HARNESS SATURATED — \(h.reasons.joined(separator: "; ")); the figures may describe the harness"
            )
        }
        if let capacity = report.capacity {
            lines.append("capacity: \(capacity.summaryLine)")
            lines.append(
                "  \(capacity.steps.count) steps in \(DurationText.format(seconds: capacity.totalSeconds.rounded())) "
                    + "(bound \(DurationText.format(seconds: capacity.boundSeconds))); the table below is the "
                    + (capacity.steps.last?.purpose == "hold" ? "last hold's" : "last step's")
            )
        }
        lines.append("")
        let header = ["request", "count", "req/s", "p50", "p95", "p99", "max", "errors"]
        var rows = [header]
        for (k, r) in report.requests.enumerated() {
            let errors = r.errors.values.reduce(0, +)
            rows.append([
                // A flow's steps in order, numbered: the table reads as the journey.
                report.flow == nil ? r.name : "\(k + 1). \(r.name)", String(r.count), String(format: "%.1f", r.rps),
                HumanFormat.ms(r.latency?.p50),
                HumanFormat.ms(r.latency?.p95),
                HumanFormat.ms(r.latency?.p99), HumanFormat.ms(r.latency?.max),
                errors == 0 ? "0" : "\(errors) (\(errorBreakdown(r.errors)))",
            ])
        }
        lines += table(rows)
        if let phases = phaseLine(report) { lines.append(phases) }
        let dropped = report.summary(.droppedIterations)?[.count] ?? 0
        let checks = report.metrics[Metric.checks.rawValue]?.values
        var totals = "iterations \(Int(report.summary(.iterations)?[.count] ?? 0))"
        if dropped > 0 { totals += " · dropped \(Int(dropped))" }
        if let flow = report.flow, let d = report.summary(.iterationDuration) {
            totals +=
                " (\(flow.steps.count)-step flow: p50 \(HumanFormat.ms(d[.med])), p95 \(HumanFormat.ms(d[.percentile(95)]))"
            totals += flow.stopped > 0 ? ", \(flow.stopped) stopped by a failed step)" : ")"
        }
        if let passes = checks?["passes"], let fails = checks?["fails"], passes + fails > 0 {
            totals += " · checks \(Int(passes))/\(Int(passes + fails)) passed"
        }
        totals += " · data in \(HumanFormat.bytes(report.summary(.dataReceived)?[.count] ?? 0))"
        lines.append(totals)
        if !report.thresholds.isEmpty {
            lines.append("")
            lines.append("thresholds")
            for t in report.thresholds {
                let observed =
                    t.skipped.map { "skipped: \($0)" }
                    ?? "observed " + (t.observed.map { JSONValue.format(($0 * 1000).rounded() / 1000) } ?? "no data")
                lines.append(
                    "  \(t.mark) \(t.metric) \(t.expression)   \(observed)"
                        + (t.default == true ? "   (default: the scenario has no thresholds)" : "")
                )
            }
        }
        for w in report.warnings { lines.append("warning: \(w)") }
        lines.append("")
        lines.append("verdict: \(report.verdict.word) — \(report.verdictReason)")
        if let folder { lines.append("report: \(folder)/report.json") }
        return lines.joined(separator: "\n")
    }

    /// Where p95 time went: each timing phase's p95 over every request, largest first, phases at 0 left out
    /// (`p95 by phase: waiting 11.2 ms · receiving 412 µs · sending 9 µs`). Percentiles of phases do not add up
    /// to the total's; they say which phase a slow request spends its time in. Nil without phase data.
    static func phaseLine(_ report: Report) -> String? {
        let p95s = Phase.allCases.compactMap { phase -> (Phase, Double)? in
            guard let v = report.summary(phase.metric)?[.percentile(95)] else { return nil }
            return (phase, v)
        }
        guard !p95s.isEmpty else { return nil }
        let shown = p95s.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
        guard !shown.isEmpty else { return nil }
        return "p95 by phase: " + shown.map { "\($0.0.word) \(HumanFormat.ms($0.1))" }.joined(separator: " · ")
    }

    static func errorBreakdown(_ errors: [String: Int]) -> String {
        errors.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
            separator: ", "
        )
    }

    /// Columns padded to their widest cell: numbers right-aligned, the columns in `left` (the first by default)
    /// left-aligned.
    static func table(_ rows: [[String]], left: Set<Int> = [0]) -> [String] {
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                left.contains(c)
                    ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ").trimmingTrailingSpaces
        }
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var end = endIndex
        while end > startIndex, self[index(before: end)] == " " { end = index(before: end) }
        return String(self[..<end])
    }
}
