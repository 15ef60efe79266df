import Foundation
import PreflightCore

extension HTMLReport {
    /// The drill section: figures, a timeline of its milestones above the probe strip and the background load's
    /// p95 and errors on the same time axis, the canary's account and every action's outcome.
    static func drill(_ r: Report) -> String {
        guard let d = r.drill else { return "" }
        let s: (Double?) -> String = { $0 == 0 ? "0 s" : HumanFormat.ms($0.map { $0 * 1000 }) }
        var h = "<section><h2>Drill</h2>"
        if let why = d.invalidReason {
            h += "<p class=\"note\"><strong>Invalid drill.</strong> \(escapeXML(why)).</p>"
        }
        h += "<table class=\"drill\"><tbody>"
        let rows: [(String, String)] = [
            (
                "RTO",
                d.rtoSeconds == nil && d.timeline.contains { $0.event == .recoveryTimeout }
                    ? "not recovered within the recovery timeout"
                    : "\(s(d.rtoSeconds)) (resolution \(s(d.rtoResolutionSeconds)): the probe interval)"
            ),
            ("Detection", s(d.detectionSeconds)), ("First success", s(d.timeToFirstSuccessSeconds)),
            ("SLO recovered", s(d.sloRecoveredSeconds)),
            (
                "RPO",
                d.rpoMeasured ? s(d.rpoSeconds) : "not measured (\(d.rpoNotMeasured ?? "no canary block"))"
            ),
            (
                "Lost writes",
                d.rpoMeasured ? "\(d.lostWrites ?? 0) of \(d.acknowledgedWrites ?? 0) acknowledged" : "not measured"
            ),
            ("Probes", "\(d.probes.passed) passed, \(d.probes.failed) failed, every \(s(d.probes.intervalSeconds))"),
        ]
        for (k, v) in rows { h += "<tr><th>\(escapeXML(k))</th><td>\(escapeXML(v))</td></tr>" }
        h += "</tbody></table>"
        h += "<div class=\"chart-box\">\(timeline(r, d))</div>"
        if let c = d.canary {
            h += "<p>Canary: \(c.written) writes sent, \(c.acknowledged) acknowledged, \(c.readBack) read back, "
            h +=
                "\(c.lostWrites) lost\(c.lostSeqs.isEmpty ? "" : " (seq \(c.lostSeqs.map(String.init).joined(separator: ", ")))"), "
            h += "\(c.presentUnacknowledged) stored without acknowledgement, \(c.duplicates) duplicated, "
            h += "\(c.outOfOrder) out of order. Computed from the client's own <code>canary.log</code>.</p>"
        }
        if !d.actions.isEmpty {
            h += "<table class=\"requests\"><thead><tr><th>Action</th><th>argv</th><th>Started</th><th>Took</th>"
            h += "<th>Exit</th><th>Output</th></tr></thead><tbody>"
            for a in d.actions {
                let exit = a.timedOut ? "timed out" : a.error ?? a.exitStatus.map(String.init) ?? "–"
                h += "<tr class=\"\(a.succeeded ? "ok" : "failed")\"><td>\(escapeXML(a.kind.rawValue))</td>"
                h += "<td><code>\(escapeXML(a.argv.joined(separator: " ")))</code></td>"
                h += "<td class=\"num\">\(s(a.startedAt))</td><td class=\"num\">\(s(a.durationSeconds))</td>"
                h += "<td>\(escapeXML(exit))</td>"
                h +=
                    "<td><a href=\"\(escapeXML(a.stdoutFile))\">stdout</a> · <a href=\"\(escapeXML(a.stderrFile))\">stderr</a></td></tr>"
            }
            h += "</tbody></table>"
        }
        return h + "</section>\n"
    }

    /// One SVG: milestones as labelled vertical lines, the probe strip, and the background load's p95 (ms) and
    /// errors per second, on the drill's time axis.
    static func timeline(_ r: Report, _ d: DrillSection) -> String {
        let width = 960.0
        let left = 56.0
        let right = 16.0
        let plotW = width - left - right
        let offset = d.backgroundOffsetSeconds ?? 0
        let end = max(
            d.timeline.map(\.t).max() ?? 0,
            d.probes.samples.last?.t ?? 0,
            (r.timeseries.last?.t ?? 0) + offset,
            1
        )
        let x: (Double) -> Double = { left + plotW * min(max($0, 0), end) / end }
        let f: (Double) -> String = { String(format: "%.1f", $0) }
        let eventsTop = 8.0
        let rowHeight = 14.0
        // Milestones' labels: each in the first row where it overlaps no other label, so events within a second
        // of each other (fault, detection, verified) stay legible; the rows push the strip down.
        let labels = d.timeline.map { e in
            let text = "\(e.event.rawValue) \(f(e.t)) s"
            let anchorEnd = x(e.t) > width - 180
            let w = labelWidth(text)
            let from = anchorEnd ? x(e.t) - 3 - w : x(e.t) + 3
            return (text: text, anchorEnd: anchorEnd, span: from...(from + w))
        }
        let rows = labelRows(labels.map(\.span))
        let stripTop = eventsTop + Double((rows.max() ?? 0) + 1) * rowHeight + 14
        let chartTop = stripTop + 40
        let chartH = 160.0
        let height = chartTop + chartH + 40
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" "
        svg += "height=\"\(Int(height))\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" "
        svg += "aria-label=\"Drill timeline: milestones, probes, background latency and errors\">"
        svg += "<title>Drill timeline</title>"
        // Phases as shaded bands: before the fault, the outage (fault to recovered), after.
        let fault = d.timeline.first { $0.event == .faultStart }?.t
        let recovered = d.timeline.first { $0.event == .recovered }?.t
        if let fault {
            let until = recovered ?? end
            svg += "<rect x=\"\(f(x(fault)))\" y=\"\(f(stripTop))\" width=\"\(f(max(1, x(until) - x(fault))))\" "
            svg += "height=\"\(f(chartTop + chartH - stripTop))\" fill=\"#ffebe9\"/>"
        }
        // Milestones.
        let colors = [
            "steady-state": "#1a7f37", "fault-start": "#cf222e", "fault": "#cf222e", "detection": "#bf8700",
            "verified": "#bf8700", "first-success": "#0969da", "recovered": "#1a7f37", "slo-recovered": "#8250df",
            "recovery-timeout": "#cf222e", "end": "#57606a",
        ]
        for (i, e) in d.timeline.enumerated() {
            let color = colors[e.event.rawValue] ?? "#57606a"
            let y = eventsTop + Double(rows[i]) * rowHeight + 10
            let label = labels[i]
            svg += "<line x1=\"\(f(x(e.t)))\" x2=\"\(f(x(e.t)))\" y1=\"\(f(y + 2))\" y2=\"\(f(chartTop + chartH))\" "
            svg += "stroke=\"\(color)\" stroke-width=\"1\" stroke-dasharray=\"3 2\"/>"
            svg += "<text x=\"\(f(x(e.t) + (label.anchorEnd ? -3 : 3)))\" y=\"\(f(y))\" font-size=\"11\" "
            svg +=
                "text-anchor=\"\(label.anchorEnd ? "end" : "start")\" fill=\"\(color)\">\(escapeXML(label.text))</text>"
        }
        // The probe strip.
        svg += "<text x=\"4\" y=\"\(f(stripTop + 14))\" font-size=\"11\" fill=\"#57606a\">probes</text>"
        let w = max(1, plotW * d.probes.intervalSeconds / end)
        for p in d.probes.samples {
            svg += "<rect x=\"\(f(x(p.t)))\" y=\"\(f(stripTop + 2))\" width=\"\(f(w))\" height=\"18\" "
            svg += "fill=\"\(p.ok ? "#2da44e" : "#cf222e")\"/>"
        }
        // The background load's p95 and errors per second.
        let ts = r.timeseries
        let p95 = ts.compactMap { p in p.p95.map { (t: p.t + offset, v: $0) } }
        let errors = ts.map { (t: $0.t + offset, v: Double($0.errors) / max(r.run.bucketSeconds, 1e-9)) }
        let yMax = max(p95.map(\.v).max() ?? 0, 1)
        let eMax = max(errors.map(\.v).max() ?? 0, 1)
        let y: (Double, Double) -> Double = { v, top in chartTop + chartH - chartH * min(v / top, 1) }
        svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(chartTop + chartH))\" "
        svg += "y2=\"\(f(chartTop + chartH))\" stroke=\"#d0d7de\"/>"
        if !p95.isEmpty {
            let path = p95.map { "\(f(x($0.t))),\(f(y($0.v, yMax)))" }.joined(separator: " L")
            svg += "<path d=\"M\(path)\" fill=\"none\" stroke=\"#bf8700\" stroke-width=\"1.5\"/>"
            let epath = errors.map { "\(f(x($0.t))),\(f(y($0.v, eMax)))" }.joined(separator: " L")
            svg +=
                "<path d=\"M\(epath)\" fill=\"none\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"4 2\"/>"
            svg +=
                "<text x=\"4\" y=\"\(f(chartTop + 10))\" font-size=\"11\" fill=\"#bf8700\">p95 ≤ \(escapeXML(HumanFormat.ms(yMax)))</text>"
            svg +=
                "<text x=\"4\" y=\"\(f(chartTop + 24))\" font-size=\"11\" fill=\"#cf222e\">errors/s ≤ \(f(eMax))</text>"
        } else {
            svg += "<text x=\"\(f(left + 8))\" y=\"\(f(chartTop + 20))\" font-size=\"11\" fill=\"#57606a\">"
            svg += "no background load</text>"
        }
        for tick in SVGChart.ticks(upTo: end) {
            svg += "<text x=\"\(f(x(tick)))\" y=\"\(f(chartTop + chartH + 14))\" font-size=\"11\" "
            svg += "text-anchor=\"middle\" fill=\"#57606a\">\(SVGChart.fmt(tick))</text>"
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 6))\" font-size=\"11\" text-anchor=\"middle\" "
        svg += "fill=\"#57606a\">seconds since the drill started</text>"
        return svg + "</svg>"
    }

    /// A label's width in the timeline's 11 px sans-serif, estimated generously (no font metrics in a static page).
    static func labelWidth(_ text: String) -> Double { Double(text.count) * 6.4 + 4 }

    /// The row of each label (0 at the top): the first row in which its horizontal span overlaps no label placed
    /// before it.
    static func labelRows(_ spans: [ClosedRange<Double>]) -> [Int] {
        var placed: [[ClosedRange<Double>]] = []
        return spans.map { span in
            let row = placed.firstIndex { $0.allSatisfy { !$0.overlaps(span) } } ?? placed.count
            if row == placed.count { placed.append([]) }
            placed[row].append(span)
            return row
        }
    }
}
