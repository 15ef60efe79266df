import Foundation
import PreflightCore

extension HTMLReport {
    /// A capacity search (SPEC §16): its answer in one line, latency percentiles and the achieved rate against the
    /// offered rate with the knee (the sustainable rate) marked, and every step with its verdict and why.
    static func capacity(_ r: Report) -> String {
        guard let c = r.capacity, !c.steps.isEmpty else { return "" }
        var h = "<section><h2>Capacity</h2><p><strong>\(escapeXML(c.summaryLine))</strong></p>"
        // x: the offered rate (open) or the VUs (closed). One point per x: its latest step (a hold replaces the
        // short step at the same level).
        let closed = c.model == "closed"
        let xOf = { (s: CapacitySection.Step) in closed ? Double(s.vus ?? 0) : s.offeredPerSecond }
        let xLabel = closed ? "VUs" : "offered rate, iterations per second"
        var byX: [Double: CapacitySection.Step] = [:]
        for s in c.steps { byX[xOf(s)] = s }
        let points = byX.values.sorted { xOf($0) < xOf($1) }
        // Open: the offered rate of the step at the sustainable rate (a shard offered its share of it).
        let knee =
            closed
            ? c.sustainableVUs.map(Double.init)
            : c.sustainableRate.map { r in c.steps.last { $0.rate == r }?.offeredPerSecond ?? r / c.timeUnitSeconds }
        let latencies = points.flatMap { [$0.p50Ms, $0.p95Ms, $0.p99Ms].compactMap { $0 } }
        func kneeSeries(top: Double) -> [SVGChart.Series] {
            guard let knee else { return [] }
            let name = c.confirmed ? "sustainable (confirmed)" : "best step (not confirmed)"
            return [.init(name: name, color: "#57606a", points: [(knee, 0), (knee, top)], dashed: true)]
        }
        let percentile = { (name: String, color: String, key: KeyPath<CapacitySection.Step, Double?>) in
            SVGChart.Series(
                name: name,
                color: color,
                points: points.compactMap { s in s[keyPath: key].map { (xOf(s), $0) } }
            )
        }
        let xMax = (points.last.map(xOf) ?? 1) * 1.05
        h += SVGChart(title: "Latency percentiles by \(closed ? "VUs" : "offered rate"), milliseconds").lines(
            [
                percentile("p50", "#2da44e", \.p50Ms), percentile("p95", "#bf8700", \.p95Ms),
                percentile("p99", "#cf222e", \.p99Ms),
            ] + kneeSeries(top: latencies.max() ?? 1),
            xLabel: xLabel,
            yLabel: "ms",
            xMax: xMax
        )
        let achieved = SVGChart.Series(
            name: closed ? "throughput" : "achieved",
            color: "#0969da",
            points: points.map { (xOf($0), $0.achievedPerSecond) }
        )
        if closed {
            // The USL curve over the steps' range, and on to its peak when that lies beyond.
            let curveEnd = max(xMax, (c.usl?.peakConcurrency ?? 0) * 1.2)
            let curve = c.usl.map { u in
                SVGChart.Series(
                    name: "USL fit (R² \(String(format: "%.3f", u.rSquared)))",
                    color: "#8250df",
                    points: stride(from: 1.0, through: curveEnd, by: max(0.25, curveEnd / 100)).map {
                        ($0, u.throughput(at: $0))
                    },
                    dashed: true
                )
            }
            let top = ([points.map(\.achievedPerSecond).max() ?? 1] + (curve?.points.map(\.y) ?? [])).max() ?? 1
            h += SVGChart(title: "Throughput by VUs, iterations per second, with the USL fit").lines(
                [achieved] + (curve.map { [$0] } ?? []) + kneeSeries(top: top),
                xLabel: xLabel,
                yLabel: "iterations per second",
                xMax: curveEnd
            )
        } else {
            h += SVGChart(title: "Achieved rate by offered rate, iterations per second").lines(
                [achieved, .init(name: "offered", color: "#8c959f", points: [(0, 0), (xMax, xMax)], dashed: true)]
                    + kneeSeries(top: xMax),
                xLabel: xLabel,
                yLabel: "achieved per second",
                xMax: xMax
            )
        }
        h += "<div class=\"scroll\"><table class=\"requests\"><thead><tr><th>#</th><th>Step</th>"
        h += closed ? "<th>VUs</th>" : "<th>Rate</th>"
        h += "<th>Offered/s</th><th>Achieved/s</th><th>p50</th><th>p95</th><th>p99</th><th>Errors</th>"
        h += "<th>Dropped</th><th>Seconds</th><th>Verdict</th><th>Why</th></tr></thead><tbody>"
        for (i, s) in c.steps.enumerated() {
            h += "<tr><td class=\"num\">\(i + 1)</td><td>\(escapeXML(s.purpose))</td>"
            h +=
                "<td class=\"num\">\(escapeXML(closed ? "\(s.vus ?? 0)" : JSONValue.format((s.rate * 10).rounded() / 10)))</td>"
            h += "<td class=\"num\">\(escapeXML(String(format: "%.1f", s.offeredPerSecond)))</td>"
            h += "<td class=\"num\">\(escapeXML(String(format: "%.1f", s.achievedPerSecond)))</td>"
            h += [s.p50Ms, s.p95Ms, s.p99Ms].map { "<td class=\"num\">\(escapeXML(HumanFormat.ms($0)))</td>" }.joined()
            h += "<td class=\"num\">\(escapeXML(HumanFormat.percent(s.errorRate)))</td>"
            h +=
                "<td class=\"num\">\(s.dropped)</td><td class=\"num\">\(escapeXML(String(format: "%.1f", s.seconds)))</td>"
            h += "<td>\(s.verdict == "good" ? "✓ good" : "✗ bad")</td><td>\(escapeXML(s.why ?? ""))</td></tr>"
        }
        h += "</tbody></table></div><p class=\"hint\">"
        if c.stairs != nil {
            h += "Each stair ran one fixed rate for \(escapeXML(DurationText.format(seconds: c.confirmSeconds))), in "
            h += "order, whatever the last one showed; the sustainable rate is the highest stair below the first bad "
            h += "one. "
        } else {
            h += "Each step ran one rate: rising by doubling, bisecting between the last good and the first bad rate, "
            h += "then held for \(escapeXML(DurationText.format(seconds: c.confirmSeconds))) to confirm. "
        }
        h += "A step is bad when it broke a threshold on its own data, could not be offered (dropped "
        h += "iterations, under 95 % of the offered rate achieved), or its latency was still rising at its end (a "
        h += "growing queue). The dashed vertical line is the knee: the highest rate found sustainable. The rest of "
        h +=
            c.stairs != nil
            ? "this report is the sustainable stair's figures.</p></section>\n"
            : "this report is the last hold's figures.</p></section>\n"
        return h
    }
}
