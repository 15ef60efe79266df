import Foundation

/// Trading days: weekdays minus US market holidays (New Year's, Martin Luther King Jr., Presidents', Good Friday,
/// Memorial, Juneteenth from 2022, Independence, Labor, Thanksgiving, Christmas; Saturday holidays are observed
/// on Friday and Sunday ones on Monday, except a Saturday New Year's Day, which is not moved into December).
/// The scheduler and the provider simulator share it, so "missing" means the same thing to both.
public struct TradingCalendar: Sendable {
    public init() {}

    /// A civil date without time zone trouble.
    public struct Day: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var year: Int
        public var month: Int
        public var day: Int

        public init(year: Int, month: Int, day: Int) {
            self.year = year
            self.month = month
            self.day = day
        }

        /// Parses `YYYY-MM-DD`.
        public init?(_ text: String) {
            let p = text.split(separator: "-")
            guard p.count == 3, let y = Int(p[0]), let m = Int(p[1]), let d = Int(p[2]), (1...12).contains(m),
                (1...Day.daysIn(y, m)).contains(d)
            else { return nil }
            self.init(year: y, month: m, day: d)
        }

        public var description: String { String(format: "%04d-%02d-%02d", year, month, day) }

        /// Days since 1970-01-01 (negative before).
        public var ordinal: Int {
            // Howard Hinnant's days_from_civil.
            let y = month <= 2 ? year - 1 : year
            let era = (y >= 0 ? y : y - 399) / 400
            let yoe = y - era * 400
            let mp = (month + 9) % 12
            let doy = (153 * mp + 2) / 5 + day - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            return era * 146_097 + doe - 719_468
        }

        public init(ordinal z0: Int) {
            let z = z0 + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let d = doy - (153 * mp + 2) / 5 + 1
            let m = mp < 10 ? mp + 3 : mp - 9
            self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
        }

        /// 0 = Sunday … 6 = Saturday.
        public var weekday: Int { ((ordinal % 7) + 11) % 7 }

        public func adding(days: Int) -> Day { Day(ordinal: ordinal + days) }

        public static func < (a: Day, b: Day) -> Bool { a.ordinal < b.ordinal }

        static func daysIn(_ y: Int, _ m: Int) -> Int {
            [31, (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
                m - 1
            ]
        }

        /// Today in UTC.
        public static func today(_ now: Date = Date()) -> Day {
            Day(ordinal: Int(floor(now.timeIntervalSince1970 / 86_400)))
        }
    }

    public func isTradingDay(_ d: Day) -> Bool {
        d.weekday != 0 && d.weekday != 6 && !holidays(d.year).contains(d)
    }

    /// Trading days in [from, to], oldest first.
    public func tradingDays(from: Day, to: Day) -> [Day] {
        guard from <= to else { return [] }
        return (from.ordinal...to.ordinal).map(Day.init(ordinal:)).filter(isTradingDay)
    }

    /// The market holidays (as observed) of `year`.
    public func holidays(_ year: Int) -> Set<Day> {
        func nth(_ n: Int, _ weekday: Int, _ month: Int) -> Day {
            let first = Day(year: year, month: month, day: 1)
            let offset = (weekday - first.weekday + 7) % 7
            return first.adding(days: offset + 7 * (n - 1))
        }
        func last(_ weekday: Int, _ month: Int) -> Day {
            let end = Day(year: year, month: month, day: Day.daysIn(year, month))
            return end.adding(days: -((end.weekday - weekday + 7) % 7))
        }
        func observed(_ d: Day) -> Day? {
            switch d.weekday {
            case 6: return d.month == 1 && d.day == 1 ? nil : d.adding(days: -1)
            case 0: return d.adding(days: 1)
            default: return d
            }
        }
        var days: [Day?] = [
            observed(Day(year: year, month: 1, day: 1)),
            nth(3, 1, 1),  // Martin Luther King Jr. Day
            nth(3, 1, 2),  // Presidents' Day
            easter(year).adding(days: -2),  // Good Friday
            last(1, 5),  // Memorial Day
            observed(Day(year: year, month: 7, day: 4)),
            nth(1, 1, 9),  // Labor Day
            nth(4, 4, 11),  // Thanksgiving
            observed(Day(year: year, month: 12, day: 25)),
        ]
        if year >= 2022 { days.append(observed(Day(year: year, month: 6, day: 19))) }
        return Set(days.compactMap { $0 })
    }

    /// Western Easter Sunday (anonymous Gregorian algorithm).
    func easter(_ y: Int) -> Day {
        let a = y % 19
        let b = y / 100
        let c = y % 100
        let d = b / 4
        let e = b % 4
        let f = (b + 8) / 25
        let g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4
        let k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        return Day(year: y, month: (h + l - 7 * m + 114) / 31, day: ((h + l - 7 * m + 114) % 31) + 1)
    }
}
