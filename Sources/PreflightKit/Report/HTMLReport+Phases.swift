import Foundation
import PreflightCore

extension HTMLReport {
    /// A colour per phase, the same in every bar and in the legend.
    static let phaseColors: [Phase: String] = [
        .blocked: "#8c959f", .connecting: "#bf8700", .tlsHandshaking: "#8250df", .sending: "#0969da",
        .waiting: "#2da44e", .receiving: "#cf222e",
    ]

    /// "Where the time went" (SPEC §15): per request name a bar of its mean time stacked by phase (means add up
    /// to the mean latency from the send, where percentiles would not), and each phase's p95 beside it.
    static func phases(_ r: Report) -> String {
        let rows = r.requests.compactMap { q in q.phases.map { (q, $0) } }
        guard !rows.isEmpty else { return "" }
        var h = "<section><h2>Where the time went</h2><div class=\"scroll\"><table class=\"requests\"><thead><tr>"
        h += "<th>Request</th><th>Mean, by phase</th>"
        h += Phase.allCases.map { "<th>\(escapeXML($0.word)) p95</th>" }.joined()
        h += "</tr></thead><tbody>"
        for (k, (q, phases)) in rows.enumerated() {
            let means = Phase.allCases.map { (phase: $0, ms: phases[$0.metric.rawValue]?.mean ?? 0) }
            let total = means.reduce(0) { $0 + $1.ms }
            var bar = "<svg class=\"phasebar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" role=\"img\" "
            bar += "aria-label=\"\(escapeXML(q.name)): mean \(escapeXML(HumanFormat.ms(total)))\">"
            var x = 0.0
            for m in means where total > 0 && m.ms > 0 {
                let w = m.ms / total * 100
                bar += "<rect x=\"\(fmt(x))\" y=\"0\" width=\"\(fmt(w))\" height=\"10\" "
                bar += "fill=\"\(phaseColors[m.phase]!)\"><title>\(escapeXML(m.phase.word)) "
                bar += "\(escapeXML(HumanFormat.ms(m.ms))) (\(fmt(w)) %)</title></rect>"
                x += w
            }
            bar += "</svg>"
            let name = r.flow == nil ? q.name : "\(k + 1). \(q.name)"
            h += "<tr><td><code>\(escapeXML(name))</code></td><td class=\"bar\">\(bar) "
            h += "<span class=\"num\">\(escapeXML(HumanFormat.ms(total)))</span></td>"
            h += Phase.allCases.map {
                "<td class=\"num\">\(escapeXML(HumanFormat.ms(phases[$0.metric.rawValue]?.p95)))</td>"
            }.joined()
            h += "</tr>"
        }
        h += "</tbody></table></div><p class=\"hint\">"
        h += Phase.allCases.map {
            "<span class=\"swatch\" style=\"background:\(phaseColors[$0]!)\"></span>\(escapeXML($0.word))"
        }.joined(separator: " ")
        h += ". Phases of the answered requests, from the send to the last byte: blocked (waiting for a "
        h += "connection), connecting (TCP), TLS (handshake), sending, waiting (to the first byte), receiving. "
        h += "Connecting and TLS are paid by the request that opened a connection. The mock transport has only "
        h += "waiting.</p></section>\n"
        return h
    }

    private static func fmt(_ v: Double) -> String { String(format: "%.2f", v) }
}
