import Foundation
import Testing

@testable import MarketData

struct TradingCalendarTests {
    typealias Day = TradingCalendar.Day

    @Test func knownHolidaysAreNotTradingDays() {
        let c = TradingCalendar()
        for text in [
            "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19", "2024-07-04",
            "2024-09-02", "2024-11-28", "2024-12-25", "2021-12-24", "2022-06-20", "2026-07-03", "2027-12-24",
        ] {
            #expect(!c.isTradingDay(Day(text)!), "\(text)")
        }
        #expect(c.isTradingDay(Day("2024-07-05")!))
        #expect(!c.isTradingDay(Day("2024-07-06")!), "a Saturday")
        #expect(c.isTradingDay(Day("2021-12-31")!), "New Year's Day 2022 is a Saturday and not observed in December")
    }

    @Test func aYearHasAboutTwoHundredFiftyTradingDays() {
        let c = TradingCalendar()
        #expect(c.tradingDays(from: Day("2024-01-01")!, to: Day("2024-12-31")!).count == 252)
        #expect(c.tradingDays(from: Day("2023-01-01")!, to: Day("2023-12-31")!).count == 250)
    }

    @Test func daysRoundTripThroughOrdinals() {
        let d = Day("2026-11-29")!
        #expect(Day(ordinal: d.ordinal) == d)
        #expect(d.weekday == 0)
        #expect(Day("2024-02-29")!.adding(days: 1).description == "2024-03-01")
        #expect(Day("2023-02-29") == nil)
    }
}

struct BackoffTests {
    @Test func everyWaitLiesInTheJitterWindowAndRespectsRetryAfter() {
        let policy = BackoffPolicy()
        var rng = SplitMixGenerator(seed: 99)
        for attempt in 0..<4 {
            let ceiling = min(60, pow(2, Double(attempt)))
            for _ in 0..<500 {
                let wait = policy.delay(afterAttempt: attempt, retryAfter: nil, using: &rng)!.seconds
                #expect(wait >= 0 && wait <= ceiling)
                let floored = policy.delay(afterAttempt: attempt, retryAfter: .seconds(7), using: &rng)!.seconds
                #expect(floored >= 7 && floored <= max(7, ceiling))
            }
        }
        #expect(BackoffPolicy(base: .seconds(1), cap: .seconds(60)).ceiling(attempt: 10) == .seconds(60))
    }

    @Test func theAttemptLimitHolds() {
        var rng = SplitMixGenerator(seed: 1)
        let policy = BackoffPolicy(maxAttempts: 5)
        #expect(policy.delay(afterAttempt: 3, retryAfter: nil, using: &rng) != nil)
        #expect(policy.delay(afterAttempt: 4, retryAfter: nil, using: &rng) == nil)
    }

    @Test func onlyTransientFailuresAreRetried() {
        for s in [408, 429, 500, 502, 503, 504] { #expect(BackoffPolicy.isRetryable(status: s)) }
        for s in [400, 401, 403, 404, 422, 501] { #expect(!BackoffPolicy.isRetryable(status: s)) }
        #expect(BackoffPolicy.isRetryable(status: nil), "a timeout")
    }
}

struct RateLimitHeaderTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func parse(_ headers: [(String, String)]) -> RateLimitSnapshot {
        RateLimitHeaders.parse(headers.map { (name: $0.0, value: $0.1) }, now: now)
    }

    @Test func xRateLimitResetIsADeltaOrAnEpoch() {
        let delta = parse([("X-RateLimit-Limit", "50"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "12")])
        #expect(delta.limit == 50)
        #expect(delta.remaining == 0)
        #expect(delta.retryAfter == .seconds(12))
        let epoch = parse([("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1800000030")])
        #expect(epoch.retryAfter == .seconds(30))
        let past = parse([("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1700000000")])
        #expect(past.retryAfter == .zero)
        let remaining = parse([("X-RateLimit-Remaining", "3"), ("X-RateLimit-Reset", "12")])
        #expect(remaining.retryAfter == nil, "nothing to wait for while requests remain")
    }

    @Test func aRetryAfterDateIsReadAndANonASCIIOneIsNotADate() {
        #expect(parse([("Retry-After", "Fri, 15 Jan 2027 08:00:10 GMT")]).retryAfter == .seconds(10))
        // This one stopped the process inside Foundation's DateFormatter before the ASCII check.
        #expect(parse([("Retry-After", "Fri, 15 \u{7B0}an 2027 08:00:10 GMT")]).retryAfter == nil)
    }

    @Test func ietfFieldsInEachForm() {
        let structured = parse([("RateLimit", #""default";r=0;t=7"#), ("RateLimit-Policy", #""default";q=100;w=60"#)])
        #expect(structured.remaining == 0)
        #expect(structured.retryAfter == .seconds(7))
        #expect(structured.limit == 100)
        #expect(structured.window == .seconds(60))
        let older = parse([("RateLimit", "limit=10, remaining=0, reset=4")])
        #expect(older.limit == 10)
        #expect(older.retryAfter == .seconds(4))
        let triple = parse([
            ("RateLimit-Limit", "5"), ("RateLimit-Remaining", "0"), ("RateLimit-Reset", "9"),
            ("RateLimit-Policy", "5;w=60"),
        ])
        #expect(triple.limit == 5)
        #expect(triple.window == .seconds(60))
        #expect(triple.retryAfter == .seconds(9))
    }

    @Test func retryAfterWinsOverTheRest() {
        let s = parse([
            ("Retry-After", "20"), ("RateLimit", "r=0;t=5"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "9"),
        ])
        #expect(s.retryAfter == .seconds(20))
        let ietfOverX = parse([("RateLimit", "r=0;t=5"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "9")])
        #expect(ietfOverX.retryAfter == .seconds(5))
        let date = parse([("Retry-After", "Fri, 15 Jan 2027 08:00:10 GMT")])
        #expect(date.retryAfter == .seconds(10))
    }

    @Test func malformedAndAbsurdValuesAreIgnored() {
        let s = parse([
            ("Retry-After", "soon"), ("X-RateLimit-Limit", "-5"), ("X-RateLimit-Remaining", "lots"),
            ("X-RateLimit-Reset", "99999999"), ("RateLimit", "r=0;t=-3"),
        ])
        #expect(s.retryAfter == nil)
        #expect(s.limit == nil)
        #expect(s.remaining == 0)
        #expect(parse([("Retry-After", "86400")]).retryAfter == nil, "a day is beyond the hour we believe")
        #expect(parse([("Retry-After", "NaN")]).retryAfter == nil)
    }
}

struct RateLimitStateTests {
    @Test func aConfiguredLimitSpacesRequestsWithoutA429() {
        let t0 = ContinuousClock.now
        var state = RateLimitState(limit: 5, window: .seconds(1))
        let times = (0..<12).map { _ in state.reserve(now: t0) }
        // 5 per second (plus a 50 ms margin): the 6th waits for the 1st to leave the window, the 11th for the 6th.
        #expect(times.prefix(5).allSatisfy { $0 == t0 })
        #expect(times[5] == t0 + .milliseconds(1050))
        #expect(times[10] == t0 + .milliseconds(2100))
        for i in 0..<times.count where i >= 5 {
            #expect(times[i] - times[i - 5] >= .seconds(1), "never more than 5 in a window")
        }
    }

    @Test func retryAfterBlocksEveryoneUntilItPasses() {
        let t0 = ContinuousClock.now
        var state = RateLimitState(limit: nil, window: .seconds(60))
        var snapshot = RateLimitSnapshot()
        snapshot.retryAfter = .seconds(3)
        state.observe(snapshot, status: 429, now: t0)
        #expect(state.reserve(now: t0 + .seconds(1)) == t0 + .seconds(3))
        var learned = RateLimitSnapshot()
        learned.limit = 2
        learned.window = .seconds(10)
        state.observe(learned, status: 200, now: t0 + .seconds(4))
        #expect(state.limit == 2)
        #expect(state.window == .seconds(10))
    }
}
