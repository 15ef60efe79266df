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
                expires = Self.httpDate(v)
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

    /// An HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`, RFC 9110 §5.6.7, and the `-` separated form servers still
    /// send), as seconds since 1970.
    static func httpDate(_ text: String) -> Double? {
        for format in [
            "EEE, dd MMM yyyy HH:mm:ss zzz", "EEE, dd-MMM-yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz",
        ] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = format
            if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        }
        return nil
    }
}
