import Foundation

/// Parses and formats the duration strings of scenario files: `"250ms"`, `"30s"`, `"2m"`, `"1h30m"`, `"1.5s"`.
public enum DurationText {
    /// The longest duration a scenario or drill may give: a year (8760h).
    public static let maxSeconds = 365.0 * 24 * 3600

    /// Units accepted, longest suffix first so `ms` is not read as `m` + `s`.
    package static let units: [(String, Double)] = [
        ("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("h", 3600), ("m", 60), ("s", 1),
    ]

    /// The duration in seconds, or nil when `text` is not a duration string.
    public static func seconds(_ text: String) -> Double? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (suffix, factor) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(suffix.count)
            total += value * factor
        }
        return total
    }

    /// A short human form: `250ms`, `1.5s`, `2m30s`.
    public static func format(seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "\(seconds)s" }
        if seconds < 1 { return "\(JSONValue.format((seconds * 1000 * 1000).rounded() / 1000))ms" }
        if seconds < 60 { return "\(JSONValue.format((seconds * 1000).rounded() / 1000))s" }
        let whole = Int(seconds.rounded())
        let (h, m, s) = (whole / 3600, (whole % 3600) / 60, whole % 60)
        return (h > 0 ? "\(h)h" : "") + (m > 0 ? "\(m)m" : "") + (s > 0 || (h == 0 && m == 0) ? "\(s)s" : "")
    }
}
