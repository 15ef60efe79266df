import Foundation
import PreflightCore

/// Small inline SVG charts drawn by hand: line charts over time, a percentile distribution on a log axis, and bars.
/// Each has axes with units and tick labels, a legend and a `<title>` for screen readers.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    var title: String
    var width = 860.0
    var height = 280.0
    let margin = (left: 64.0, right: 16.0, top: 16.0, bottom: 44.0)

    var plotWidth: Double { width - margin.left - margin.right }
    var plotHeight: Double { height - margin.top - margin.bottom }

    /// Round tick values (1, 2, 5 × 10ⁿ) covering 0…max.
    static func ticks(upTo max: Double, count: Int = 5) -> [Double] {
        guard max > 0, max.isFinite else { return [0, 1] }
        let raw = max / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return stride(from: 0, through: max + step * 0.999, by: step).map { $0 }
    }

    static func fmt(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 { return HumanFormat.count(v) }
        if abs(v) >= 10 || v.rounded() == v { return String(format: "%.0f", v) }
        if abs(v) >= 1 { return String(format: "%.1f", v) }
        return String(format: "%.2g", v)
    }

    /// A line chart; `x` is numeric (seconds), `xLabel`/`yLabel` carry the units.
    func lines(_ series: [Series], xLabel: String, yLabel: String, xMax: Double? = nil) -> String {
        let allX = series.flatMap { $0.points.map(\.x) }
        let allY = series.flatMap { $0.points.map(\.y) }
        let xTicks = Self.ticks(upTo: xMax ?? allX.max() ?? 1, count: 8)
        let yTicks = Self.ticks(upTo: (allY.max() ?? 1) * 1.05)
        let xTop = xTicks.last ?? 1
        let yTop = yTicks.last ?? 1
        let sx: (Double) -> Double = { margin.left + $0 / xTop * plotWidth }
        let sy: (Double) -> Double = { margin.top + plotHeight - $0 / yTop * plotHeight }
        var svg = open()
        svg += axes(
            xTicks: xTicks.map { (sx($0), Self.fmt($0)) },
            yTicks: yTicks.map { (sy($0), Self.fmt($0)) },
            xLabel: xLabel,
            yLabel: yLabel
        )
        svg += paths(series, sx: sx, sy: sy)
        svg += legend(series)
        return svg + "</svg>"
    }

    /// Latency by percentile, x on a log scale of 1/(1−p) as HdrHistogram's plots: 0 %, 90 %, 99 %, 99.9 % …
    func percentiles(_ series: [Series], yLabel: String) -> String {
        let decades = max(3.0, (series.flatMap { $0.points.map(\.x) }.max() ?? 3).rounded(.up))
        let yTicks = Self.ticks(upTo: (series.flatMap { $0.points.map(\.y) }.max() ?? 1) * 1.05)
        let yTop = yTicks.last ?? 1
        let sx: (Double) -> Double = { margin.left + $0 / decades * plotWidth }
        let sy: (Double) -> Double = { margin.top + plotHeight - $0 / yTop * plotHeight }
        let labels = (0...Int(decades)).map { k -> (Double, String) in
            let p = 100 * (1 - pow(10, -Double(k)))
            let text = k == 0 ? "0%" : (k <= 2 ? "\(Int(p))%" : String(format: "%.\(k - 2)f%%", p))
            return (sx(Double(k)), text)
        }
        var svg = open()
        svg += axes(xTicks: labels, yTicks: yTicks.map { (sy($0), Self.fmt($0)) }, xLabel: "percentile", yLabel: yLabel)
        svg += paths(series, sx: sx, sy: sy)
        svg += legend(series)
        return svg + "</svg>"
    }

    /// Horizontal bars with their counts.
    func bars(_ items: [(label: String, value: Double, color: String)], unit: String) -> String {
        var chart = self
        chart.height = max(80, Double(items.count) * 28 + margin.top + margin.bottom)
        let left = 110.0
        let plot = chart.width - left - margin.right - 70
        let top = items.map(\.value).max() ?? 1
        var svg = chart.open()
        for (i, item) in items.enumerated() {
            let y = margin.top + Double(i) * 28
            let w = top > 0 ? max(1, item.value / top * plot) : 1
            svg +=
                "<text x=\"\(left - 8)\" y=\"\(y + 15)\" text-anchor=\"end\" class=\"tick\">\(escapeXML(item.label))</text>"
            svg +=
                "<rect class=\"bar\" x=\"\(left)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", w))\" height=\"18\" fill=\"\(item.color)\">"
            svg += "<title>\(escapeXML(item.label)): \(HumanFormat.count(item.value)) \(unit)</title></rect>"
            svg += "<text x=\"\(left + w + 6)\" y=\"\(y + 16)\" class=\"tick\">\(HumanFormat.count(item.value))</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(chart.height - 10)\" class=\"axis-label\">\(escapeXML(unit))</text>"
        return svg + "</svg>"
    }

    private func open() -> String {
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
            + "width=\"\(Int(width))\" height=\"\(Int(height))\" preserveAspectRatio=\"xMinYMin meet\">"
            + "<title>\(escapeXML(title))</title>"
    }

    private func axes(xTicks: [(Double, String)], yTicks: [(Double, String)], xLabel: String, yLabel: String) -> String
    {
        var svg = ""
        let bottom = margin.top + plotHeight
        for (y, label) in yTicks {
            svg +=
                "<line class=\"grid\" x1=\"\(margin.left)\" x2=\"\(margin.left + plotWidth)\" y1=\"\(f(y))\" y2=\"\(f(y))\"/>"
            svg +=
                "<text class=\"tick\" x=\"\(margin.left - 6)\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(escapeXML(label))</text>"
        }
        for (x, label) in xTicks {
            svg += "<line class=\"axis\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(bottom))\" y2=\"\(f(bottom + 4))\"/>"
            svg +=
                "<text class=\"tick\" x=\"\(f(x))\" y=\"\(f(bottom + 17))\" text-anchor=\"middle\">\(escapeXML(label))</text>"
        }
        svg +=
            "<line class=\"axis\" x1=\"\(margin.left)\" x2=\"\(margin.left + plotWidth)\" y1=\"\(f(bottom))\" y2=\"\(f(bottom))\"/>"
        svg +=
            "<line class=\"axis\" x1=\"\(margin.left)\" x2=\"\(margin.left)\" y1=\"\(margin.top)\" y2=\"\(f(bottom))\"/>"
        svg +=
            "<text class=\"axis-label\" x=\"\(f(margin.left + plotWidth / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">\(escapeXML(xLabel))</text>"
        svg +=
            "<text class=\"axis-label\" transform=\"translate(14 \(f(margin.top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escapeXML(yLabel))</text>"
        return svg
    }

    /// One `<path>` per series; `data-points` lets tests count what was drawn.
    private func paths(_ series: [Series], sx: (Double) -> Double, sy: (Double) -> Double) -> String {
        var svg = ""
        for s in series where !s.points.isEmpty {
            let d = s.points.enumerated().map { i, p in "\(i == 0 ? "M" : "L")\(f(sx(p.x))),\(f(sy(p.y)))" }
                .joined(separator: " ")
            svg +=
                "<path class=\"series\" data-series=\"\(escapeXML(s.name))\" data-points=\"\(s.points.count)\" d=\"\(d)\" "
            svg +=
                "fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
        }
        return svg
    }

    private func legend(_ series: [Series]) -> String {
        var svg = ""
        var x = margin.left + 8
        for s in series {
            svg +=
                "<line x1=\"\(f(x))\" x2=\"\(f(x + 18))\" y1=\"\(margin.top + 8)\" y2=\"\(margin.top + 8)\" stroke=\"\(s.color)\" stroke-width=\"2.5\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
            svg += "<text class=\"legend\" x=\"\(f(x + 22))\" y=\"\(margin.top + 12)\">\(escapeXML(s.name))</text>"
            x += 34 + Double(s.name.count) * 7
        }
        return svg
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
