import Foundation

/// The one-screen text summary printed after a run (k6-like).
public enum TextSummary {
    /// Milliseconds for people: `850µs`, `12.3ms`, `1.24s`.
    public static func ms(_ v: Double?) -> String {
        guard let v else { return "–" }
        if v < 1 { return "\(Int((v * 1000).rounded()))µs" }
        if v < 100 { return String(format: "%.2fms", v) }
        if v < 1000 { return String(format: "%.0fms", v) }
        return String(format: "%.2fs", v / 1000)
    }

    /// Counts for people: `950`, `14.3k`, `2.1M`.
    public static func count(_ v: Double) -> String {
        if v < 1000 { return v.rounded() == v ? String(Int(v)) : String(format: "%.1f", v) }
        if v < 1_000_000 { return String(format: "%.1fk", v / 1000) }
        return String(format: "%.1fM", v / 1_000_000)
    }

    public static func render(_ report: Report, folder: String?) -> String {
        var lines: [String] = []
        let mode = report.transport.mode.uppercased()
        lines.append("\(report.tool.name) \(report.tool.version) — \(report.scenario.name) (\(report.scenario.file))")
        lines.append(
            "target \(report.target.baseURL) · transport \(mode) · \(report.run.executor.name) · "
                + "\(DurationText.format(seconds: report.run.durationSeconds)) · seed \(report.run.seed)"
        )
        if report.transport.mode == "mock" {
            lines.append("MOCK TRANSPORT — \(report.transport.reason); results do not describe the target")
        }
        lines.append("")
        let header = ["request", "count", "req/s", "p50", "p95", "p99", "max", "errors"]
        var rows = [header]
        for r in report.requests {
            let errors = r.errors.values.reduce(0, +)
            rows.append([
                r.name, String(r.count), String(format: "%.1f", r.rps), ms(r.latency?.p50), ms(r.latency?.p95),
                ms(r.latency?.p99), ms(r.latency?.max), errors == 0 ? "0" : "\(errors) (\(errorBreakdown(r.errors)))",
            ])
        }
        lines += table(rows)
        let dropped = report.metrics["dropped_iterations"]?.values["count"] ?? 0
        let checks = report.metrics["checks"]?.values
        var totals = "iterations \(Int(report.metrics["iterations"]?.values["count"] ?? 0))"
        if dropped > 0 { totals += " · dropped \(Int(dropped))" }
        if let passes = checks?["passes"], let fails = checks?["fails"], passes + fails > 0 {
            totals += " · checks \(Int(passes))/\(Int(passes + fails)) passed"
        }
        totals += " · data in \(count(report.metrics["data_received"]?.values["count"] ?? 0))B"
        lines.append(totals)
        if !report.thresholds.isEmpty {
            lines.append("")
            lines.append("thresholds")
            for t in report.thresholds {
                let observed = t.observed.map { JSONValue.format(($0 * 1000).rounded() / 1000) } ?? "no data"
                lines.append(
                    "  \(t.ok ? "✓" : "✗") \(t.metric) \(t.expression)   observed \(observed)"
                        + (t.default == true ? "   (default: the scenario has no thresholds)" : "")
                )
            }
        }
        for w in report.warnings { lines.append("warning: \(w)") }
        lines.append("")
        lines.append("verdict: \(report.verdict.uppercased()) — \(report.verdictReason)")
        if let folder { lines.append("report: \(folder)/report.json") }
        return lines.joined(separator: "\n")
    }

    static func errorBreakdown(_ errors: [String: Int]) -> String {
        errors.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
            separator: ", "
        )
    }

    static func table(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c == 0
                    ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ")
        }
    }
}
