/// How a request's headers combine with the target's, for every builder of a request message (the load path's plan
/// and the one-shot client of the probe, drill and scraper), so they cannot drift apart.
package enum HeaderMerge {
    /// The target's headers that the request does not name itself (names compare case-insensitively), and whether
    /// a User-Agent is set by either, so Preflight's own is added only when neither sets one.
    package static func targetHeaders(
        _ target: [(name: String, value: String)],
        besides requestNames: some Sequence<String>
    ) -> (kept: [(name: String, value: String)], hasUserAgent: Bool) {
        let overridden = Set(requestNames.map { $0.lowercased() })
        let kept = target.filter { !overridden.contains($0.name.lowercased()) }
        let hasUserAgent = overridden.contains("user-agent") || kept.contains { $0.name.lowercased() == "user-agent" }
        return (kept, hasUserAgent)
    }

    /// Preflight's own User-Agent header.
    package static var userAgent: (name: String, value: String) {
        ("User-Agent", "\(PreflightInfo.name)/\(PreflightInfo.version)")
    }

    /// A message's headers: the target's that `own` does not override, then `own`, then Preflight's User-Agent when
    /// neither sets one.
    package static func merged(
        target: [(name: String, value: String)],
        own: [(name: String, value: String)]
    ) -> [(name: String, value: String)] {
        let (kept, hasUserAgent) = targetHeaders(target, besides: own.map(\.name))
        return kept + own + (hasUserAgent ? [] : [userAgent])
    }
}
