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
        guard statuses.contains(status), !location.isEmpty else { return nil }
        var path: String
        if let scheme = location.range(of: "://") {
            // An absolute URL: the same scheme, host and port as the target, or not followed.
            guard
                case .success(let url) = TargetURL.parse(
                    String(location[..<scheme.lowerBound]) + "://"
                        + authority(of: location, after: scheme.upperBound)
                ),
                url.scheme == target.scheme, url.host.lowercased() == target.host.lowercased(), url.port == target.port
            else { return nil }
            let rest = location[scheme.upperBound...].drop { $0 != "/" && $0 != "?" }
            path = rest.isEmpty ? "/" : String(rest)
        } else if location.hasPrefix("//") {
            return nil  // scheme-relative: another authority
        } else if location.hasPrefix("/") {
            path = location
        } else {
            // Relative to the current path's directory (RFC 3986 §5.2.3).
            let current =
                target.basePath + (request.path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/")
            let directory = current.lastIndex(of: "/").map { String(current[...$0]) } ?? "/"
            path = directory + location
        }
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        guard path.hasPrefix(target.basePath + "/") || path == target.basePath || target.basePath.isEmpty else {
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

    private static func authority(of location: String, after start: String.Index) -> String {
        String(location[start...].prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}
