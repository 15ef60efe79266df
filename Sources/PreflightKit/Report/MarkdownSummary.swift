import Foundation
import PreflightCore

/// `summary.md`: a short Markdown summary for a CI step summary.
public enum MarkdownSummary: ReportFormat {
    public static let fileName = "summary.md"

    public static func render(_ r: Report) -> String {
        let icon = [Verdict.pass: "✅", .fail: "❌"][r.verdict] ?? "⚠️"
        var m = "## \(icon) \(r.verdict.word) — \(r.scenario.name)\n\n"
        if r.transport.mode == .mock {
            m += "> **MOCK TRANSPORT** — \(r.transport.reason); results do not describe the target.\n\n"
        }
        m += "\(r.verdictReason)\n\n"
        m +=
            "`\(r.transport.mode)` transport · \(r.run.executor.name) · \(DurationText.format(seconds: r.run.durationSeconds))"
        m += " · seed \(r.run.seed) · target `\(r.target.baseURL)`\(r.run.interrupted ? " · **interrupted**" : "")\n\n"
        if let c = r.capacity { m += "**Capacity**: \(c.summaryLine)\n\n" }
        if !r.thresholds.isEmpty {
            m += "| | Threshold | Observed |\n|---|---|---|\n"
            for t in r.thresholds {
                let mark = t.skipped != nil ? "➖" : t.ok ? "✅" : "❌"
                m += "| \(mark) | `\(t.metric) \(t.expression)` | \(HumanFormat.observed(t)) |\n"
            }
            m += "\n"
        }
        m += "| Request | Count | req/s | p50 | p95 | p99 | Errors |\n|---|---:|---:|---:|---:|---:|---:|\n"
        for q in r.requests {
            let l = q.latency
            m += "| `\(q.name)` | \(q.count) | \(String(format: "%.1f", q.rps)) | \(HumanFormat.ms(l?.p50)) | "
            m += "\(HumanFormat.ms(l?.p95)) | \(HumanFormat.ms(l?.p99)) | \(q.errors.values.reduce(0, +)) |\n"
        }
        for w in r.warnings { m += "\n> ⚠️ \(w)" }
        return m + "\n"
    }
}
