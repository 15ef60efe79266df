import Foundation
import PreflightCore

/// Numbers for people: `850 µs`, `12.3 ms`, `1.24 s`, `14.3k`, `2.1 MB`.
public enum HumanFormat {
    /// A duration given in milliseconds.
    public static func ms(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        if v == 0 { return "0 ms" }
        if v < 1 { return "\(Int((v * 1000).rounded())) µs" }
        if v < 10 { return String(format: "%.2f ms", v) }
        if v < 100 { return String(format: "%.1f ms", v) }
        if v < 1000 { return String(format: "%.0f ms", v) }
        return String(format: "%.2f s", v / 1000)
    }

    /// A count or rate: `950`, `14.3k`, `2.1M`.
    public static func count(_ v: Double) -> String {
        guard v.isFinite else { return "–" }
        if abs(v) < 1000 { return v.rounded() == v ? String(Int(v)) : String(format: "%.1f", v) }
        if abs(v) < 1_000_000 { return String(format: "%.1fk", v / 1000) }
        return String(format: "%.1fM", v / 1_000_000)
    }

    public static func bytes(_ v: Double) -> String {
        if v < 1024 { return "\(Int(v)) B" }
        if v < 1024 * 1024 { return String(format: "%.1f kB", v / 1024) }
        if v < 1024 * 1024 * 1024 { return String(format: "%.1f MB", v / 1024 / 1024) }
        return String(format: "%.2f GB", v / 1024 / 1024 / 1024)
    }

    /// A percentage of a fraction: `0.5 %`, `99.9 %`.
    public static func percent(_ fraction: Double) -> String {
        let p = fraction * 100
        if p == 0 || p == 100 { return "\(Int(p)) %" }
        return p < 1 || p > 99 ? String(format: "%.2f %%", p) : String(format: "%.1f %%", p)
    }

    /// A threshold's observed value in the unit of its metric.
    public static func observed(_ t: ThresholdResult) -> String {
        if let why = t.skipped { return "skipped: \(why)" }
        guard let v = t.observed else { return "no data" }
        // A regression limit observes the change against the baseline, in percent (positive is worse).
        if t.metric.hasPrefix("regression{") { return String(format: "%+.1f %%", v) }
        let agg = t.expression.prefix { !"<>=!".contains($0) }.trimmingCharacters(in: .whitespaces)
        return value(v, metric: t.metric, aggregation: agg)
    }

    /// A value of `metric` aggregated by `aggregation` (`p(95)`, `rate`, `count`), in the metric's unit.
    public static func value(_ v: Double?, metric: String, aggregation agg: String) -> String {
        guard let v else { return "–" }
        switch Metric(expression: metric)?.unit ?? .count {
        case .milliseconds where agg != "count": return ms(v)
        case .fraction: return percent(v)
        case .bytes: return agg == "rate" ? bytes(v) + "/s" : bytes(v)
        case .milliseconds, .count: return agg == "rate" ? count(v) + "/s" : count(v)
        }
    }

    /// ISO 8601 in UTC, to the second.
    public static func date(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }
}

/// Escapes text for HTML and XML content and attribute values.
func escapeXML(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default:
            // XML 1.0 forbids most control characters, even escaped.
            if c.value < 0x20 && c != "\n" && c != "\t" && c != "\r" {
                out += "\u{FFFD}"
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }
    return out
}
