import Foundation

/// Following a redirect (RFC 9110 §15.4): the request a 3xx answer asks for, or nil when it is not followed.
public enum Redirect {
    /// The statuses that redirect with a `Location`.
    public static let statuses: Set<Int> = [301, 302, 303, 307, 308]

    /// The next request after `status` with `location`, for `request` sent to `target`. 303, and 301/302 after a
    /// POST, become a GET without a body (as browsers, curl -L and k6 do); 307 and 308 repeat the method and body.
    /// Only the target's own origin is followed (the run talks to nothing else), and only below its base path
    /// (paths are sent below it); a `Location` elsewhere leaves the 3xx as the answer.
    public static func next(
        after request: RequestMessage,
        status: Int,
        location: String,
        target: TargetURL
    ) -> RequestMessage? {
        guard statuses.contains(status), !location.isEmpty,
            let path = resolve(location, from: target.basePath + request.path, target: target)
        else { return nil }
        let base = target.basePath
        guard base.isEmpty || path == base || path.hasPrefix(base + "/") || path.hasPrefix(base + "?") else {
            return nil
        }
        var next = request
        next.path = String(path.dropFirst(target.basePath.count))
        if next.path.isEmpty || next.path.first == "?" { next.path = "/" + next.path }
        if status == 303 ? request.method != "HEAD" : (status == 301 || status == 302) && request.method == "POST" {
            next.method = "GET"
            next.body = nil
            next.headers.removeAll {
                let name = $0.name.lowercased()
                return name == "content-type" || name == "content-length"
            }
        }
        return next
    }

    /// `location` resolved against the current request (RFC 3986 §5.2, by Foundation's `URL`: dot segments removed,
    /// a query-only or fragment-only reference kept on the current path, characters a request line cannot carry
    /// percent-encoded), as a path and query on the target's origin; nil when it points at another origin, carries
    /// credentials, or is not a URL.
    static func resolve(_ location: String, from current: String, target: TargetURL) -> String? {
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        let origin = "\(target.scheme)://\(host):\(target.port)"
        guard let base = URL(string: origin + current) ?? URL(string: origin + target.basePath + "/"),
            let url = URL(string: location, relativeTo: base)?.absoluteURL,
            url.scheme?.lowercased() == target.scheme, url.user == nil, url.password == nil,
            let urlHost = url.host(percentEncoded: false), urlHost.lowercased() == target.host.lowercased(),
            (url.port ?? (target.scheme == "https" ? 443 : 80)) == target.port
        else { return nil }
        var path = url.path(percentEncoded: true)
        if path.isEmpty { path = "/" }
        if let query = url.query(percentEncoded: true) { path += "?" + query }
        // Only what a request line can carry (RFC 9112 §3.2): Foundation encodes the rest, this is the last word.
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else { return nil }
        // A dot segment written as `%2e` is one to servers that decode before normalising (nginx): not followed.
        let segments = path.prefix { $0 != "?" }.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: {
            let s = $0.lowercased().replacingOccurrences(of: "%2e", with: ".")
            return s == "." || s == ".."
        }) {
            return nil
        }
        return path
    }
}
