/// A small JSON path: `$`, `.key`, `['key']`, `[index]` (negative counts from the end).
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public enum Component: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    public let components: [Component]
    public let description: String

    public static func parse(_ text: String) -> Result<JSONPath, ScenarioProblem.Reason> {
        let bad = ScenarioProblem.Reason(
            "is not a JSON path we understand",
            hint: "use $.field, $.list[0] or $['odd key']; filters and wildcards are not supported"
        )
        guard text.hasPrefix("$") else { return .failure(bad) }
        var comps: [Component] = []
        var rest = text.dropFirst()
        while let c = rest.first {
            if c == "." {
                rest = rest.dropFirst()
                let key = rest.prefix { $0 != "." && $0 != "[" }
                guard !key.isEmpty else { return .failure(bad) }
                comps.append(.key(String(key)))
                rest = rest.dropFirst(key.count)
            } else if c == "[" {
                guard let close = rest.firstIndex(of: "]") else { return .failure(bad) }
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                if let i = Int(inner) {
                    comps.append(.index(i))
                } else if inner.count >= 2, let q = inner.first, q == "'" || q == "\"", inner.last == q {
                    comps.append(.key(String(inner.dropFirst().dropLast())))
                } else {
                    return .failure(bad)
                }
                rest = rest[rest.index(after: close)...]
            } else {
                return .failure(bad)
            }
        }
        return .success(JSONPath(components: comps, description: text))
    }

    /// The value at this path, or nil when any step is missing.
    public func evaluate(_ root: JSONValue) -> JSONValue? {
        var current = root
        for comp in components {
            switch (comp, current) {
            case (.key(let k), .object(let o)):
                guard let next = o[k] else { return nil }
                current = next
            case (.index(let i), .array(let a)):
                let j = i < 0 ? a.count + i : i
                guard a.indices.contains(j) else { return nil }
                current = a[j]
            default:
                return nil
            }
        }
        return current
    }
}
