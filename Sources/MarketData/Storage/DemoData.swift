import Foundation

/// Deterministic synthetic daily bars for local use (`preflight serve --demo-data`): the same symbol always gets
/// the same prices; the dates are the most recent weekdays up to today.
public enum DemoData {
    /// Two trading years.
    public static let days = 504

    public static func bars(symbol: String, days: Int = days, endingOn end: Date = Date()) -> [Bar] {
        var rng = SplitMixGenerator(seed: 0, name: symbol)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var dates: [Date] = []
        var day = calendar.startOfDay(for: end)
        while dates.count < days {
            let weekday = calendar.component(.weekday, from: day)
            if weekday != 1 && weekday != 7 { dates.append(day) }
            day = calendar.date(byAdding: .day, value: -1, to: day)!
        }
        let formatter = DateFormatter()
        formatter.calendar = calendar
        formatter.timeZone = calendar.timeZone
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        var close = 50 + Double(rng.next() % 400)
        return dates.reversed().map { date in
            let open = close * (1 + rng.normal() * 0.004)
            close = max(1, close * (1 + 0.0003 + rng.normal() * 0.015))
            let high = max(open, close) * (1 + abs(rng.normal()) * 0.006)
            let low = min(open, close) * (1 - abs(rng.normal()) * 0.006)
            let volume = Double(100_000 + rng.next() % 5_000_000)
            let round4: (Double) -> Double = { ($0 * 10_000).rounded() / 10_000 }
            return Bar(
                date: formatter.string(from: date),
                open: round4(open),
                high: round4(high),
                low: round4(low),
                close: round4(close),
                volume: volume
            )
        }
    }
}
