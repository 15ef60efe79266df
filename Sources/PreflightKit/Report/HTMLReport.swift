import Foundation
import Histogram
import PreflightCore

/// `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) rendered from a
/// `report.json` alone, so `preflight report` can re-render any past run.
public enum HTMLReport: ReportFormat {
    public static let fileName = "report.html"

    public static func render(_ r: Report) -> String {
        let mock = r.transport.mode == .mock
        var h = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escapeXML("\(r.verdict.word) · \(r.scenario.name) · Preflight"))</title>
            <style>\(css)</style></head><body>

            """
        if mock { h += "<div class=\"ribbon\" aria-hidden=\"true\">MOCK</div>\n" }
        h +=
            "<header class=\"verdict \(escapeXML(r.verdict.rawValue))\"><div class=\"word\">\(escapeXML(r.verdict.word))</div>"
        h +=
            "<div><h1>\(escapeXML(r.scenario.name))</h1><p class=\"reason\">\(escapeXML(r.verdictReason))</p></div></header>\n"
        if mock {
            h += "<section class=\"mock-warning\"><strong>Mock transport.</strong> \(escapeXML(r.transport.reason)). "
            h += "Every number below comes from the latency-simulating mock, not from the target; "
            h += "they describe the scenario and the harness, not the API.</section>\n"
        }
        if r.run.interrupted {
            h += "<section class=\"note\"><strong>Interrupted.</strong> The run was stopped before its planned end; "
            h += "the numbers cover the part that ran.</section>\n"
        }
        h += thresholds(r)
        h += capacity(r)
        h += drill(r)
        h += requests(r)
        h += phases(r)
        h += baseline(r)
        h += charts(r)
        h += server(r)
        if !r.warnings.isEmpty {
            h += "<section><h2>Warnings</h2><ul class=\"warnings\">"
            h += r.warnings.map { "<li>\(escapeXML($0))</li>" }.joined()
            h += "</ul></section>\n"
        }
        h += metadata(r)
        h += "<footer>\(escapeXML(r.tool.name)) \(escapeXML(r.tool.version)) · \(escapeXML(r.schema))</footer>\n"
        return h + "</body></html>\n"
    }

    static func thresholds(_ r: Report) -> String {
        var h = "<section><h2>Thresholds</h2>"
        guard !r.thresholds.isEmpty else { return h + "<p>No thresholds were defined.</p></section>\n" }
        h +=
            "<table class=\"thresholds\"><thead><tr><th></th><th>Metric</th><th>Expression</th><th>Observed</th></tr></thead><tbody>"
        for t in r.thresholds {
            h +=
                "<tr class=\"\(t.skipped != nil ? "skipped" : t.ok ? "ok" : "failed")\"><td class=\"mark\">\(t.mark)</td>"
            h +=
                "<td><code>\(escapeXML(t.metric))</code>\(t.default == true ? " <span class=\"tag\">default</span>" : "")</td>"
            h +=
                "<td><code>\(escapeXML(t.expression))</code></td><td class=\"num\">\(escapeXML(HumanFormat.observed(t)))</td></tr>"
        }
        return h + "</tbody></table></section>\n"
    }

    static func requests(_ r: Report) -> String {
        let title = r.flow.map { "Flow: \($0.steps.count) steps, in order" } ?? "Requests"
        var h = "<section><h2>\(title)</h2><div class=\"scroll\"><table class=\"requests\"><thead><tr>"
        h += [
            "Request", "Count", "req/s", "p50", "p90", "p95", "p99", "p99.9", "max", "p99 uncorrected", "Status codes",
            "Errors", "Checks",
        ].map { "<th>\($0)</th>" }.joined()
        h += "</tr></thead><tbody>"
        for (k, q) in r.requests.enumerated() {
            let l = q.latency
            let step = r.flow == nil ? "" : "\(k + 1). "
            let statuses = q.statusCodes.sorted { $0.key < $1.key }.map {
                "\($0.key): \(HumanFormat.count(Double($0.value)))"
            }
            let errors = q.errors.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            let checks = q.checks.passed + q.checks.failed
            h +=
                "<tr><td>\(step)<code>\(escapeXML(q.name))</code></td><td class=\"num\">\(HumanFormat.count(Double(q.count)))</td>"
            h += "<td class=\"num\">\(HumanFormat.count((q.rps * 10).rounded() / 10))</td>"
            for v in [l?.p50, l?.p90, l?.p95, l?.p99, l?.p999, l?.max] {
                h += "<td class=\"num\">\(HumanFormat.ms(v))</td>"
            }
            h += "<td class=\"num\">\(HumanFormat.ms(q.latencyUncorrected?.p99))</td>"
            h += "<td>\(escapeXML(statuses.joined(separator: ", ")))</td>"
            h += "<td>\(errors.isEmpty ? "0" : escapeXML(errors.joined(separator: ", ")))</td>"
            h += "<td class=\"num\">\(checks == 0 ? "–" : "\(q.checks.passed)/\(checks)")</td></tr>"
        }
        if let flow = r.flow, let d = r.summary(.iterationDuration) {
            // The whole journey as one row: iteration_duration, measured from each iteration's intended start.
            h += "<tr class=\"total\"><td>whole iteration</td>"
            h += "<td class=\"num\">\(HumanFormat.count(d[.count] ?? 0))</td><td></td>"
            for v in [d[.med], d[.percentile(90)], d[.percentile(95)], d[.percentile(99)], nil, d[.max]] {
                h += "<td class=\"num\">\(HumanFormat.ms(v))</td>"
            }
            h +=
                "<td></td><td></td><td>\(flow.stopped == 0 ? "0" : "stopped by a failed step: \(flow.stopped)")</td><td></td></tr>"
        }
        h += "</tbody></table></div>"
        let failedChecks = r.requests.flatMap { q in q.checkResults.filter { $0.failed > 0 }.map { (q.name, $0) } }
        if !failedChecks.isEmpty {
            h +=
                "<p>Failed checks: "
                + failedChecks.map { name, c in
                    "<code>\(escapeXML(name))</code> \(escapeXML(c.name)) (\(c.failed) of \(c.passed + c.failed))"
                }.joined(separator: "; ") + "</p>"
        }
        h += "<p class=\"hint\">Latency is measured from each iteration's intended start (corrected for coordinated "
        h += "omission); the uncorrected p99 is measured from the actual send.</p></section>\n"
        return h
    }

    /// Baseline and this run side by side: the regression limits' table and both latency distributions overlaid.
    static func baseline(_ r: Report) -> String {
        guard let c = r.comparison else { return "" }
        var h = "<section><h2>Against the baseline</h2>"
        h += "<p class=\"note\">Baseline: run <code>\(escapeXML(c.baselineRunId))</code> of "
        h += "\(escapeXML(HumanFormat.date(c.baselineStartedAt))) (<code>\(escapeXML(c.baselinePath))</code>).</p>"
        h +=
            "<div class=\"scroll\"><table class=\"requests\"><thead><tr><th>limit</th><th>baseline</th><th>this run</th>"
        h += "<th>change</th><th>allowed</th><th>result</th></tr></thead><tbody>"
        for row in c.rows {
            // regression{METRIC:AGGREGATION}: the values in the metric's unit.
            let inner = row.name.dropFirst("regression{".count).dropLast()
            let split = inner.lastIndex(of: ":") ?? inner.endIndex
            let metric = String(inner[..<split])
            let aggregation = split < inner.endIndex ? String(inner[inner.index(after: split)...]) : ""
            let cell: (Double?) -> String = { HumanFormat.value($0, metric: metric, aggregation: aggregation) }
            let change: String =
                if let signed = row.signedChangePercent, let direction = row.direction {
                    String(format: "%+.1f %%", signed) + (direction == "same" ? "" : " (\(direction))")
                } else {
                    row.changePercent.map { String(format: "%+.1f %% (positive is worse)", $0) } ?? "–"
                }
            let css = row.outcome == "regression" ? "fail" : row.outcome == "ok" ? "pass" : ""
            h +=
                "<tr><td><code>\(escapeXML(row.name))</code></td><td>\(cell(row.baseline))</td><td>\(cell(row.new))</td>"
            h += "<td>\(change)</td><td>\(SVGChart.fmt(row.limitPercent)) %</td>"
            h += "<td class=\"\(css)\">\(escapeXML(row.outcome))</td></tr>"
        }
        h += "</tbody></table></div></section>\n"
        let all = r.allLatency()
        if all.totalCount > 0, !c.baselineCurve.isEmpty {
            let chart = SVGChart(title: "Latency by percentile, this run and the baseline, milliseconds").percentiles(
                [
                    .init(name: "this run", color: "#8250df", points: percentilePoints(all)),
                    .init(
                        name: "baseline",
                        color: "#57606a",
                        points: c.baselineCurve.compactMap { $0.count == 2 ? (x: $0[0], y: $0[1]) : nil },
                        dashed: true
                    ),
                ],
                yLabel: "latency (ms)"
            )
            h += "<section class=\"chart-box\"><h2>Latency distribution against the baseline</h2>\(chart)</section>\n"
        }
        return h
    }

    /// The target's own metrics (`target.metrics`): a table of the whole-run values and one chart per series on the
    /// client's time axis, so a latency change can be read against cache hits, database time or queueing.
    static func server(_ r: Report) -> String {
        guard let s = r.server else { return "" }
        var h = "<section><h2>The server's view</h2>"
        h += "<p class=\"note\">Scraped from <code>\(escapeXML(s.url))</code> every "
        h += "\(escapeXML(DurationText.format(seconds: s.intervalSeconds))) on a connection of its own: "
        h += "\(s.scrapes) scrapes, \(s.failedScrapes) failed.</p>"
        if let note = s.note { h += "<p class=\"note\">\(escapeXML(note))</p>" }
        h += "<div class=\"scroll\"><table class=\"requests\"><thead><tr><th>series</th><th>kind</th><th>of</th>"
        h += "<th>whole run</th><th>min</th><th>avg</th><th>max</th></tr></thead><tbody>"
        let cell: (Double?) -> String = { $0.map { SVGChart.fmt($0) } ?? "–" }
        for series in s.series {
            h += "<tr><td>\(escapeXML(series.name))</td><td>\(escapeXML(series.kind))</td>"
            h += "<td><code>\(escapeXML(series.selector))</code></td><td>\(cell(series.value))</td>"
            h += "<td>\(cell(series.min))</td><td>\(cell(series.avg))</td><td>\(cell(series.max))</td></tr>"
            if let why = series.noData {
                h += "<tr class=\"failed\"><td></td><td colspan=\"6\">no data: \(escapeXML(why))</td></tr>"
            }
        }
        h += "</tbody></table></div></section>\n"
        let xMax = max(r.run.durationSeconds, r.timeseries.last?.t ?? 0)
        let colors = ["#8250df", "#0969da", "#bf8700", "#1a7f37", "#cf222e"]
        for (i, series) in s.series.enumerated() where !series.points.isEmpty {
            let chart = SVGChart(title: "Server: \(series.name) over time").lines(
                [
                    .init(
                        name: series.name,
                        color: colors[i % colors.count],
                        points: series.points.compactMap { $0.count == 2 ? (x: $0[0], y: $0[1]) : nil }
                    )
                ],
                xLabel: "seconds since start",
                yLabel: series.name,
                xMax: xMax
            )
            h += "<section class=\"chart-box\"><h2>Server: \(escapeXML(series.name))</h2>\(chart)</section>\n"
        }
        return h
    }

    static func charts(_ r: Report) -> String {
        var h = ""
        let ts = r.timeseries
        let bucket = r.run.bucketSeconds
        // A drill's background load started after the steady state held: its points go on the drill's time axis,
        // the one the timeline above uses.
        let offset = r.drill?.backgroundOffsetSeconds ?? 0
        let xLabel = r.drill == nil ? "seconds since start" : "seconds since the drill started"
        let xMax = max(r.run.durationSeconds, (ts.last?.t ?? 0) + offset)
        // Each point covers the time since the previous one (the last bucket may be shorter than the others).
        let perSecond: (KeyPath<TimePoint, Int>) -> [(x: Double, y: Double)] = { key in
            ts.enumerated().map { i, p in
                let width = p.t - (i == 0 ? max(0, p.t - bucket) : ts[i - 1].t)
                return (p.t + offset, width > 0 ? Double(p[keyPath: key]) / width : 0)
            }
        }
        if !ts.isEmpty {
            let latency = SVGChart(title: "Latency percentiles over time, milliseconds").lines(
                [
                    .init(
                        name: "p50",
                        color: "#2da44e",
                        points: ts.compactMap { p in p.p50.map { (p.t + offset, $0) } }
                    ),
                    .init(
                        name: "p95",
                        color: "#bf8700",
                        points: ts.compactMap { p in p.p95.map { (p.t + offset, $0) } }
                    ),
                    .init(
                        name: "p99",
                        color: "#cf222e",
                        points: ts.compactMap { p in p.p99.map { (p.t + offset, $0) } }
                    ),
                ],
                xLabel: xLabel,
                yLabel: "latency (ms)",
                xMax: xMax
            )
            h += "<section class=\"chart-box\"><h2>Latency over time</h2>\(latency)</section>\n"
            let throughput = SVGChart(title: "Requests and errors per second over time").lines(
                [
                    .init(name: "requests/s", color: "#0969da", points: perSecond(\.requests)),
                    .init(name: "errors/s", color: "#cf222e", points: perSecond(\.errors)),
                ],
                xLabel: xLabel,
                yLabel: "per second",
                xMax: xMax
            )
            h += "<section class=\"chart-box\"><h2>Throughput and errors</h2>\(throughput)</section>\n"
        }
        let corrected = r.allLatency()
        let uncorrected = r.allLatency(corrected: false)
        if corrected.totalCount > 0 {
            let chart = SVGChart(title: "Latency by percentile, corrected and uncorrected, milliseconds").percentiles(
                [
                    .init(name: "corrected", color: "#8250df", points: percentilePoints(corrected)),
                    .init(name: "uncorrected", color: "#57606a", points: percentilePoints(uncorrected), dashed: true),
                ],
                yLabel: "latency (ms)"
            )
            h += "<section class=\"chart-box\"><h2>Latency distribution</h2>\(chart)</section>\n"
        }
        var statuses: [String: Int] = [:]
        for q in r.requests {
            for (code, n) in q.statusCodes { statuses[code, default: 0] += n }
            for kind in ["connect", "timeout", "reset", "tls"] where (q.errors[kind] ?? 0) > 0 {
                statuses["no response: \(kind)", default: 0] += q.errors[kind]!
            }
        }
        if !statuses.isEmpty {
            let items = statuses.sorted { $0.key < $1.key }.map { key, n -> (String, Double, String) in
                let color =
                    key.hasPrefix("2")
                    ? "#2da44e" : key.hasPrefix("3") ? "#0969da" : key.hasPrefix("4") ? "#bf8700" : "#cf222e"
                return (key, Double(n), color)
            }
            let chart = SVGChart(title: "Responses by status code").bars(items, unit: "responses")
            h += "<section class=\"chart-box\"><h2>Status codes</h2>\(chart)</section>\n"
        }
        return h
    }

    /// Points (decades of 1/(1−p), ms) every 0.05 decade, up to what the sample count supports.
    static func percentilePoints(_ h: LatencyHistogram) -> [(x: Double, y: Double)] {
        let decades = min(5, max(1, log10(Double(h.totalCount))))
        return stride(from: 0.0, through: decades, by: 0.05).map { x in
            let p = 100 * (1 - pow(10, -x))
            return (x, Double(h.valueAtPercentile(min(p, 100))) / 1000)
        }
    }

    static func metadata(_ r: Report) -> String {
        var rows: [(String, String)] = [
            ("Scenario file", r.scenario.file),
            ("Scenario SHA-256", r.scenario.sha256),
            ("Target", r.target.baseURL),
            ("Transport", "\(r.transport.mode) — \(r.transport.reason)"),
            ("Protocol", Report.protocols(r)),
        ]
        if let p = r.transport.probe {
            rows.append(
                (
                    "Probe",
                    [
                        p.status.map { "status \($0)" }, p.error.map { "error \($0)" },
                        p.latencyMs.map { HumanFormat.ms($0) },
                    ].compactMap { $0 }.joined(separator: ", ")
                )
            )
        }
        if let m = r.transport.mock {
            let params = m.params.sorted { $0.key < $1.key }.map { "\($0.key) \(JSONValue.format($0.value))" }
            rows.append(("Mock", "\(m.distribution) (\(params.joined(separator: ", "))), seed \(m.seed)"))
        }
        let params = r.run.executor.params.sorted { $0.key < $1.key }.map { "\($0.key) \(JSONValue.format($0.value))" }
        var executor = "\(r.run.executor.name): \(params.joined(separator: ", "))"
        if let stages = r.run.executor.stages {
            executor +=
                "; stages "
                + stages.map {
                    "\(JSONValue.format($0.target)) over \(DurationText.format(seconds: $0.durationSeconds))"
                }.joined(separator: ", ")
        }
        rows += [
            ("Executor", executor),
            ("Seed", String(r.run.seed)),
            ("Started", HumanFormat.date(r.run.startedAt)),
            ("Ended", HumanFormat.date(r.run.endedAt)),
            ("Duration", DurationText.format(seconds: r.run.durationSeconds)),
            ("Run id", r.run.id),
            (
                "Harness",
                "\(r.tool.name) \(r.tool.version), \(r.run.eventLoops) event loops, \(String(format: "%.1f", r.run.harnessCPUSeconds)) CPU s"
            ),
            ("Harness saturated", Self.saturation(r)),
        ]
        if let h = r.run.harness {
            let lateness = h.dispatchLatenessP99Ms.map { String(format: "p99 %.2f ms", $0) } ?? "nothing scheduled"
            rows.append(
                (
                    "Harness load",
                    String(format: "CPU %.0f%% of %d cores; dispatch lateness ", 100 * h.cpuUtilization, h.cores)
                        + lateness
                )
            )
        }
        if let abandoned = r.run.abandonedIterations, abandoned > 0 {
            rows.append(
                (
                    "Abandoned iterations",
                    "\(abandoned) (in flight when the run stopped: gracefulStop ran out, or a second signal abandoned them)"
                )
            )
        }
        if let segment = r.run.segment { rows.append(("Segment", segment)) }
        var h = "<section><h2>Run</h2><dl class=\"meta\">"
        for (k, v) in rows { h += "<dt>\(escapeXML(k))</dt><dd>\(escapeXML(v))</dd>" }
        return h + "</dl></section>\n"
    }

    /// Yes with the reasons when the harness was the bottleneck; older reports only have the warning.
    static func saturation(_ r: Report) -> String {
        if let h = r.run.harness { return h.saturated ? "yes — \(h.reasons.joined(separator: "; "))" : "no" }
        return r.warnings.contains { $0.contains("harness") } ? "yes — see warnings" : "no"
    }

    static let css = """
        :root { --ink: #1f2328; --muted: #57606a; --line: #d0d7de; --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
               max-width: 1000px; margin: 0 auto; padding: 16px 24px 48px; }
        h1 { font-size: 22px; margin: 0; } h2 { font-size: 17px; margin: 28px 0 8px; }
        .verdict { display: flex; gap: 20px; align-items: center; padding: 16px 20px; border-radius: 8px; color: #fff; }
        .verdict .word { font-size: 30px; font-weight: 700; letter-spacing: .04em; }
        .verdict .reason { margin: 4px 0 0; }
        .verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); }
        .verdict.inconclusive { background: #bf8700; }
        .ribbon { position: fixed; top: 34px; right: -58px; transform: rotate(45deg); background: #d4a72c; color: #000;
                  font-weight: 800; letter-spacing: .3em; padding: 6px 70px; box-shadow: 0 2px 6px rgba(0,0,0,.3); z-index: 9; }
        .mock-warning { margin-top: 14px; padding: 12px 16px; border: 2px solid #d4a72c; background: #fff8c5; border-radius: 6px; }
        .note { margin-top: 14px; padding: 10px 14px; border-left: 4px solid var(--warn); background: #fff8c5; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #f6f8fa; font-weight: 600; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        tr.failed td { background: #ffebe9; } .mark { font-weight: 700; width: 1.5em; }
        tr.ok .mark { color: var(--pass); } tr.failed .mark { color: var(--fail); } tr.skipped { opacity: .7; }
        .tag { font-size: 11px; background: #ddf4ff; border-radius: 4px; padding: 1px 5px; }
        .scroll { overflow-x: auto; } code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
        .hint { color: var(--muted); font-size: 12px; }
        td.bar { white-space: nowrap; } .phasebar { width: 220px; height: 12px; vertical-align: middle; }
        .swatch { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 6px; vertical-align: middle; }
        svg.chart { width: 100%; height: auto; max-width: 860px; display: block; }
        svg .grid { stroke: #eaeef2; } svg .axis { stroke: #8c959f; }
        svg .tick, svg .legend { font-size: 11px; fill: var(--muted); } svg .axis-label { font-size: 12px; fill: var(--ink); }
        dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
        dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
        footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
        @media print {
          @page { size: A4; margin: 14mm; }
          body { max-width: none; padding: 0; font-size: 11px; }
          .ribbon { position: absolute; }
          .verdict, .mock-warning, tr.failed td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
          .chart-box, table, dl.meta { break-inside: avoid; }
          .scroll { overflow: visible; }
        }
        """
}
