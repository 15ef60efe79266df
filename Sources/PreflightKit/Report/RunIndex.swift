import Foundation
import PreflightCore

/// `reports/index.html`: every run folder under the reports folder, newest first. A folder without a readable
/// `report.json` is listed as incomplete, never a crash.
public enum RunIndex {
    public struct Entry: Sendable {
        public var folder: String
        public var report: Report?
        public var problem: String?
        public var date: Date
    }

    public static func entries(in root: URL) -> [Entry] {
        let fm = FileManager.default
        let folders = (try? fm.contentsOfDirectory(atPath: root.path)) ?? []
        var out: [Entry] = []
        for name in folders where !name.hasPrefix(".") {
            let folder = root.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else { continue }
            let modified = (try? fm.attributesOfItem(atPath: folder.path)[.modificationDate] as? Date) ?? .distantPast
            let file = folder.appendingPathComponent("report.json")
            guard let data = fm.contents(atPath: file.path) else {
                // Only a folder named like a run folder is an incomplete run; other folders (`--out .`) are not runs.
                if name.range(of: #"-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$"#, options: .regularExpression) != nil {
                    out.append(Entry(folder: name, report: nil, problem: "no report.json", date: modified))
                }
                continue
            }
            do {
                let report = try ReportReader.decode(data)
                out.append(Entry(folder: name, report: report, problem: nil, date: report.run.startedAt))
            } catch {
                out.append(
                    Entry(folder: name, report: nil, problem: "unreadable report.json: \(error)", date: modified)
                )
            }
        }
        return out.sorted { ($0.date, $0.folder) > ($1.date, $1.folder) }
    }

    public static func render(_ entries: [Entry], baselines: [String: BaselineMarks.Mark] = [:]) -> String {
        let marked = Set(baselines.values.map(\.folder))
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preflight runs</title><style>
            body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1000px; margin: 0 auto; padding: 16px 24px; color: #1f2328; }
            table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #d0d7de; }
            th { background: #f6f8fa; } .pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
            .inconclusive, .incomplete { color: #9a6700; font-weight: 600; } .mock { background: #fff8c5; font-weight: 700; padding: 0 4px; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .baseline { background: #ddf4ff; color: #0969da; font-weight: 700; padding: 0 4px; }
            code { font-size: 12px; color: #57606a; } code.cmd { white-space: nowrap; }
            </style></head><body><h1>Preflight runs</h1>

            """
        // The BASELINE mark is explained only where one is shown; otherwise the row's command says how to mark one.
        h +=
            marked.isEmpty
            ? "<p>No run is marked as the baseline: run the command in a load run's row from this folder to mark it, "
                + "and <code class=\"cmd\">preflight run … --baseline marked</code> then compares with it.</p>\n"
            : "<p>A run marked <span class=\"baseline\">BASELINE</span> is the one "
                + "<code class=\"cmd\">preflight run … --baseline marked</code> compares with; to mark another, run "
                + "the command in its row from this folder.</p>\n"
        h += """
            <table><thead><tr><th>Started (UTC)</th><th>Scenario</th><th>Verdict</th><th>Mode</th><th>Key figures</th><th>Report</th></tr></thead><tbody>

            """
        for e in entries {
            let folder = escapeXML(e.folder)
            if let r = e.report {
                let p95 = r.summary(.httpReqDuration)?[.percentile(95)]
                let mode =
                    r.transport.mode == .mock
                    ? "<span class=\"mock\">MOCK</span>" : escapeXML(r.transport.mode.rawValue)
                h +=
                    "<tr><td>\(escapeXML(HumanFormat.date(r.run.startedAt)))</td><td>\(escapeXML(r.scenario.name))</td>"
                h +=
                    "<td class=\"\(escapeXML(r.verdict.rawValue))\">\(escapeXML(r.verdict.word))\(r.run.interrupted ? " (interrupted)" : "")</td>"
                let figures =
                    r.drill.map { d in
                        "RTO \(HumanFormat.ms(d.rtoSeconds.map { $0 * 1000 }))"
                            + (d.rpoMeasured
                                ? " · RPO \(HumanFormat.ms(d.rpoSeconds.map { $0 * 1000 })) · lost \(d.lostWrites ?? 0)"
                                : " · RPO not measured (\(d.rpoNotMeasured ?? "no canary block"))")
                    } ?? "p95 \(HumanFormat.ms(p95))"
                h += "<td>\(mode)</td><td class=\"num\">\(escapeXML(figures))</td>"
                h += "<td><a href=\"\(folder)/report.html\">\(folder)</a>"
                if marked.contains(e.folder) {
                    h += " <span class=\"baseline\">BASELINE</span>"
                } else if r.drill == nil, r.run.segment == nil {
                    h += "<br><code class=\"cmd\">preflight report \(folder) --mark-baseline</code>"
                }
                h += "</td></tr>\n"
            } else {
                h += "<tr><td>–</td><td>–</td><td class=\"incomplete\">INCOMPLETE</td><td>–</td><td>–</td>"
                h += "<td>\(folder) (\(escapeXML(e.problem ?? "")))</td></tr>\n"
            }
        }
        if entries.isEmpty { h += "<tr><td colspan=\"6\">No runs yet.</td></tr>\n" }
        return h + "</tbody></table></body></html>\n"
    }

    /// Regenerates `index.html` in `root`.
    public static func write(root: URL) throws {
        try ReportWriter.writeAtomically(
            Data(render(entries(in: root), baselines: BaselineMarks.load(root: root)).utf8),
            to: root.appendingPathComponent("index.html")
        )
    }
}
