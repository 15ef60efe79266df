import Foundation

/// What a provider said about its rate limit in one response.
public struct RateLimitSnapshot: Sendable, Equatable {
    /// Requests allowed per window.
    public var limit: Int?
    public var remaining: Int?
    /// Time until the window resets (an epoch `Reset` is turned into a delta).
    public var reset: Duration?
    /// The window length, from `RateLimit-Policy` (`w=`).
    public var window: Duration?
    /// How long to wait before the next request: `Retry-After`, else `RateLimit` `t`/`reset`, else
    /// `X-RateLimit-Reset` — the latter two only when nothing remains.
    public var retryAfter: Duration?
    /// The wait came from `Retry-After` itself, not from a reset with nothing remaining.
    public var retryAfterIsExplicit = false

    public init() {}
}

/// Parses the rate-limit header families: `Retry-After` (seconds or an HTTP date), the IETF `RateLimit` /
/// `RateLimit-Policy` fields (structured `"default";r=0;t=5` and the older `limit=, remaining=, reset=` form, and
/// the `RateLimit-Limit/-Remaining/-Reset` triple), and `X-RateLimit-Limit/-Remaining/-Reset`, where a reset above
/// 10⁹ is an epoch time and otherwise a delta. Malformed values are ignored, and so are absurd ones: negative
/// numbers, and waits beyond an hour.
public enum RateLimitHeaders {
    /// The longest wait believed; a provider asking for more is treated as not having said anything.
    public static let maxWait: Double = 3600

    public static func parse(_ headers: [(name: String, value: String)], now: Date) -> RateLimitSnapshot {
        var fields: [String: String] = [:]
        for (name, value) in headers { fields[name.lowercased()] = value.trimmingCharacters(in: .whitespaces) }
        var s = RateLimitSnapshot()

        // X-RateLimit-* (lowest precedence; read first, overridden below).
        s.limit = fields["x-ratelimit-limit"].flatMap(count)
        s.remaining = fields["x-ratelimit-remaining"].flatMap(count)
        let xReset = fields["x-ratelimit-reset"].flatMap { resetDelta($0, now: now) }
        s.reset = xReset

        // IETF triple and combined forms.
        if let v = fields["ratelimit-limit"].flatMap(count) { s.limit = v }
        if let v = fields["ratelimit-remaining"].flatMap(count) { s.remaining = v }
        var ietfReset = fields["ratelimit-reset"].flatMap(delta)
        if let combined = fields["ratelimit"] {
            let params = parameters(combined)
            if let v = (params["limit"] ?? params["q"]).flatMap(count) { s.limit = v }
            if let v = (params["remaining"] ?? params["r"]).flatMap(count) { s.remaining = v }
            if let v = (params["reset"] ?? params["t"]).flatMap(delta) { ietfReset = v }
        }
        if let policy = fields["ratelimit-policy"] {
            let params = parameters(policy)
            if let v = (params["q"] ?? params["limit"] ?? params["_first"]).flatMap(count) { s.limit = s.limit ?? v }
            if let w = params["w"].flatMap(delta) { s.window = w }
        }
        if let ietfReset { s.reset = ietfReset }

        // The wait: Retry-After > RateLimit reset > X-RateLimit-Reset (the resets only once nothing remains).
        if let retry = fields["retry-after"].flatMap({ retryAfter($0, now: now) }) {
            s.retryAfter = retry
            s.retryAfterIsExplicit = true
        } else if s.remaining == 0, let reset = ietfReset ?? xReset {
            s.retryAfter = reset
        }
        return s
    }

    static func count(_ text: String) -> Int? {
        guard let v = Int(text.trimmingCharacters(in: .whitespaces)), v >= 0 else { return nil }
        return v
    }

    /// Delta seconds within [0, maxWait].
    static func delta(_ text: String) -> Duration? {
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite, v >= 0, v <= maxWait else {
            return nil
        }
        return .nanoseconds(Int64(v * 1e9))
    }

    /// `X-RateLimit-Reset`: above 10⁹ it is an epoch time (a past one means now), otherwise a delta.
    static func resetDelta(_ text: String, now: Date) -> Duration? {
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite, v >= 0 else { return nil }
        if v > 1e9 {
            let wait = max(0, v - now.timeIntervalSince1970)
            return wait <= maxWait ? .nanoseconds(Int64(wait * 1e9)) : nil
        }
        return delta(text)
    }

    /// `Retry-After`: delta seconds or an HTTP date.
    static func retryAfter(_ text: String, now: Date) -> Duration? {
        if let d = delta(text) { return d }
        // An HTTP date is ASCII (RFC 9110 §5.6.7); Foundation's DateFormatter stops the process on some non-ASCII
        // text (`Incorrect range CFRange`, found by Preflight's fuzzer in its cookie dates), and a provider's header
        // must not be able to do that.
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: text) else { return nil }
        let wait = max(0, date.timeIntervalSince(now))
        return wait <= maxWait ? .nanoseconds(Int64(wait * 1e9)) : nil
    }

    /// `"default";r=0;t=5`, `limit=10, remaining=0, reset=5` or `10;w=60` as key → value (a bare first item is
    /// `_first`).
    static func parameters(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        let items = text.split(whereSeparator: { $0 == ";" || $0 == "," }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        for (i, item) in items.enumerated() {
            if let eq = item.firstIndex(of: "=") {
                out[item[..<eq].lowercased()] = String(item[item.index(after: eq)...]).trimmingCharacters(
                    in: .init(charactersIn: "\"")
                )
            } else if i == 0 {
                out["_first"] = item.trimmingCharacters(in: .init(charactersIn: "\""))
            }
        }
        return out
    }
}
