import Foundation

/// A VU's cookies for one iteration of a flow (RFC 6265 §5): what `Set-Cookie` stored, sent back as `Cookie` on
/// the requests whose host, path and scheme match, until it expires. Like k6, each iteration starts empty, so no
/// state leaks between iterations or VUs.
public struct CookieJar: Sendable {
    struct Cookie: Sendable, Equatable {
        var name: String
        var value: String
        /// Lower-case, without a leading dot.
        var domain: String
        /// Sent only to exactly `domain` (the answer gave no `Domain`).
        var hostOnly: Bool
        var path: String
        /// Seconds since 1970; nil for a session cookie.
        var expires: Double?
        var secure: Bool
        var created: Int
    }

    private(set) var cookies: [Cookie] = []
    private var counter = 0

    public init() {}

    public var isEmpty: Bool { cookies.isEmpty }

    /// Stores one `Set-Cookie` value received from `host` for a request to `path` (RFC 6265 §5.2–5.3); a cookie for
    /// another domain, or with a malformed name, is ignored, as a browser does.
    public mutating func store(_ setCookie: String, host: String, path: String, now: Double) {
        guard let (name, value) = Self.nameAndValue(setCookie) else { return }
        let parts = setCookie.split(separator: ";", omittingEmptySubsequences: false)
        let host = host.lowercased()
        var domain = host
        var hostOnly = true
        var cookiePath = Self.defaultPath(path)
        var expires: Double?
        var maxAge: Double?
        var secure = false
        for attribute in parts.dropFirst() {
            let kv = attribute.split(separator: "=", maxSplits: 1)
            let key = kv.first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            let v = kv.count > 1 ? kv[1].trimmingCharacters(in: .whitespaces) : ""
            switch key {
            case "domain":
                var d = v.lowercased()
                if d.hasPrefix(".") { d.removeFirst() }
                guard !d.isEmpty else { continue }
                // A top-level domain (`Domain=.com`) would reach every site under it: refused, as browsers and curl
                // do (they refuse every public suffix; without the list, a name of one label is the rule here).
                guard d.contains(".") || d == host else { return }
                // A cookie for a domain the host is not in is refused (RFC 6265 §5.3 step 6).
                guard Self.domainMatches(host: host, domain: d) else { return }
                domain = d
                hostOnly = false
            case "path":
                if v.hasPrefix("/") { cookiePath = v }
            case "max-age":
                if let seconds = Double(v), v.allSatisfy({ $0.isNumber || $0 == "-" }) { maxAge = seconds }
            case "expires":
                expires = Self.cookieDate(v)
            case "secure":
                secure = true
            default: break
            }
        }
        if let maxAge { expires = now + maxAge }
        cookies.removeAll { $0.name == name && $0.domain == domain && $0.path == cookiePath }
        // An expiry in the past deletes the cookie (how servers log out).
        if let expires, expires <= now { return }
        counter += 1
        cookies.append(
            Cookie(
                name: name,
                value: value,
                domain: domain,
                hostOnly: hostOnly,
                path: cookiePath,
                expires: expires,
                secure: secure,
                created: counter
            )
        )
    }

    /// The `Cookie` value for a request to `host` and `path` (`secure`: over TLS), longest paths first (RFC 6265
    /// §5.4); nil when no cookie applies.
    public func header(host: String, path: String, secure: Bool, now: Double) -> String? {
        let host = host.lowercased()
        let requestPath = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        let matching = cookies.filter { c in
            (c.hostOnly ? host == c.domain : Self.domainMatches(host: host, domain: c.domain))
                && Self.pathMatches(requestPath, c.path) && (secure || !c.secure)
                && (c.expires.map { $0 > now } ?? true)
        }
        guard !matching.isEmpty else { return nil }
        return matching.sorted { ($0.path.count, -$0.created) > ($1.path.count, -$1.created) }
            .map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
    }

    /// The cookie a `Set-Cookie` value sets, before its attributes (RFC 6265 §5.2); nil without a name.
    public static func nameAndValue(_ setCookie: String) -> (name: String, value: String)? {
        let pair = setCookie.prefix { $0 != ";" }
        guard let eq = pair.firstIndex(of: "=") else { return nil }
        let name = pair[..<eq].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { return nil }
        return (name, pair[pair.index(after: eq)...].trimmingCharacters(in: .whitespaces))
    }

    /// RFC 6265 §5.1.3: the host is the domain, or ends with "." + domain and is not an IP address.
    static func domainMatches(host: String, domain: String) -> Bool {
        if host == domain { return true }
        let isIP = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        return !isIP && host.hasSuffix("." + domain)
    }

    /// RFC 6265 §5.1.4.
    static func pathMatches(_ requestPath: String, _ cookiePath: String) -> Bool {
        if requestPath == cookiePath { return true }
        guard requestPath.hasPrefix(cookiePath) else { return false }
        return cookiePath.hasSuffix("/") || requestPath.dropFirst(cookiePath.count).first == "/"
    }

    /// RFC 6265 §5.1.4: the request path up to its last "/", or "/".
    static func defaultPath(_ path: String) -> String {
        let p = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        guard p.hasPrefix("/"), let slash = p.lastIndex(of: "/"), slash != p.startIndex else { return "/" }
        return String(p[..<slash])
    }

    /// An `Expires` value as seconds since 1970, read by RFC 6265 §5.1.1's cookie-date algorithm, as browsers read
    /// it: `Wed, 21 Oct 2026 07:28:00 GMT`, the `-` separated and two-digit-year forms, asctime's order; the zone is
    /// always GMT. Nil for anything else (the cookie is then a session cookie).
    ///
    /// Not `DateFormatter`: Foundation's stops the process on some non-ASCII text (`Incorrect range CFRange`, found
    /// by the differential fuzzer), and a server's header must not be able to do that.
    static func cookieDate(_ text: String) -> Double? {
        var time: (hour: Int, minute: Int, second: Int)?
        var day: Int?
        var month: Int?
        var year: Int?
        for token in text.utf8.split(whereSeparator: isCookieDateDelimiter) {
            let token = Array(token)
            if time == nil, let t = cookieTime(token) {
                time = t
            } else if day == nil, let d = digits(token, count: 1...2)?.value {
                day = d
            } else if month == nil, let m = cookieMonth(token) {
                month = m
            } else if year == nil, let y = digits(token, count: 2...4)?.value {
                year = y
            }
        }
        guard let time, let day, let month, var year else { return nil }
        if (70...99).contains(year) { year += 1900 } else if (0...69).contains(year) { year += 2000 }
        guard year >= 1601, time.hour <= 23, time.minute <= 59, time.second <= 59,
            (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        let days = daysSince1970(year: year, month: month, day: day)
        return Double(days * 86_400 + time.hour * 3_600 + time.minute * 60 + time.second)
    }

    /// RFC 6265 §5.1.1: `%x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E`.
    private static func isCookieDateDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x09, 0x20...0x2F, 0x3B...0x40, 0x5B...0x60, 0x7B...0x7E: true
        default: false
        }
    }

    /// `count` digits at `start`, then the token's end or a non-digit (RFC 6265's `1*2DIGIT ( non-digit *OCTET )`):
    /// their value and where they end.
    private static func digits(
        _ token: [UInt8],
        from start: Int = 0,
        count: ClosedRange<Int>
    ) -> (value: Int, end: Int)? {
        var end = start
        while end < token.count, (0x30...0x39).contains(token[end]) {
            end += 1
            if end - start > count.upperBound { return nil }
        }
        guard count.contains(end - start) else { return nil }
        return (token[start..<end].reduce(0) { $0 * 10 + Int($1 - 0x30) }, end)
    }

    /// `hms-time ( non-digit *OCTET )`, hms-time being three fields of one or two digits joined by ":".
    private static func cookieTime(_ token: [UInt8]) -> (hour: Int, minute: Int, second: Int)? {
        guard let hour = digits(token, count: 1...2), hour.end < token.count, token[hour.end] == UInt8(ascii: ":"),
            let minute = digits(token, from: hour.end + 1, count: 1...2), minute.end < token.count,
            token[minute.end] == UInt8(ascii: ":"),
            let second = digits(token, from: minute.end + 1, count: 1...2)
        else { return nil }
        return (hour.value, minute.value, second.value)
    }

    /// The month its first three letters name, in any case (`( "jan" / … / "dec" ) *OCTET`), 1–12.
    private static func cookieMonth(_ token: [UInt8]) -> Int? {
        guard token.count >= 3 else { return nil }
        let name = String(decoding: token[0..<3].map { $0 | 0x20 }, as: UTF8.self)
        return ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            .firstIndex(of: name).map { $0 + 1 }
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's `days_from_civil`).
    private static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
