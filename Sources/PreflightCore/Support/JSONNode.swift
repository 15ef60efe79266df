import Foundation

/// Collects problems while a scenario is read, so all of them are reported at once.
package final class Diagnostics {
    package private(set) var problems: [ScenarioProblem] = []

    package init() {}

    package func add(_ path: String, _ message: String, hint: String? = nil) {
        problems.append(ScenarioProblem(path: path, message: message, hint: hint))
    }

    package func add(_ path: String, _ reason: ScenarioProblem.Reason) {
        add(path, reason.message, hint: reason.hint)
    }
}

/// A value of the document at a known path; accessors report type problems and return nil.
package struct JSONNode {
    package let value: JSONValue
    package let path: String
    package let diag: Diagnostics

    package func child(_ key: String) -> String {
        let simple =
            key.first.map { $0.isLetter || $0 == "_" } ?? false
            && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" }
        return simple ? "\(path).\(key)" : "\(path)[\"\(key)\"]"
    }

    package func fail(_ message: String, hint: String? = nil) { diag.add(path, message, hint: hint) }

    package func object(keys allowed: [String]) -> JSONObjectNode? {
        guard case .object(let dict) = value else {
            fail("must be an object, got \(value.kindDescription)")
            return nil
        }
        for key in dict.keys.sorted() where !allowed.contains(key) {
            let near = allowed.min { editDistance($0, key) < editDistance($1, key) }
            let hint =
                near.flatMap { editDistance($0, key) <= 3 ? "did you mean \"\($0)\"?" : nil }
                ?? "allowed keys: \(allowed.joined(separator: ", "))"
            diag.add(child(key), "unknown key", hint: hint)
        }
        return JSONObjectNode(dict: dict, node: self)
    }

    package func array() -> [JSONNode]? {
        guard case .array(let items) = value else {
            fail("must be an array, got \(value.kindDescription)")
            return nil
        }
        return items.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]", diag: diag) }
    }

    package func string(nonEmpty: Bool = true) -> String? {
        guard case .string(let s) = value else {
            fail("must be a string, got \(value.kindDescription)")
            return nil
        }
        if nonEmpty && s.isEmpty {
            fail("must not be empty")
            return nil
        }
        return s
    }

    /// A boolean; the strings "true" and "false" are accepted too, so `"${FLAG:-false}"` works.
    package func bool() -> Bool? {
        if case .string(let s) = value, let b = Bool(s) { return b }
        guard case .bool(let b) = value else {
            fail("must be true or false, got \(value.kindDescription)")
            return nil
        }
        return b
    }

    /// A number; a string holding a number is accepted too, so `"${RATE:-200}"` works.
    package func number(
        greaterThan low: Double? = nil,
        atLeast min: Double? = nil,
        atMost max: Double? = nil
    ) -> Double? {
        let n: Double
        switch value {
        case .number(let x): n = x
        // JSON's number grammar only: Swift's Double("NaN"), Double("inf") and Double("0x10") would pass any
        // bound check (NaN compares false) and trap later.
        case .string(let s) where JSONEscape.isNumber(s.trimmingCharacters(in: .whitespaces)):
            n = Double(s.trimmingCharacters(in: .whitespaces))!
        default:
            fail("must be a number, got \(value.kindDescription)")
            return nil
        }
        guard n.isFinite else {
            fail("must be a finite number, got \(value.kindDescription)")
            return nil
        }
        if let low, !(n > low) {
            fail("must be > \(JSONValue.format(low)), got \(JSONValue.format(n))")
            return nil
        }
        if let min, n < min {
            fail("must be >= \(JSONValue.format(min)), got \(JSONValue.format(n))")
            return nil
        }
        if let max, n > max {
            fail("must be <= \(JSONValue.format(max)), got \(JSONValue.format(n))")
            return nil
        }
        return n
    }

    package func integer(atLeast min: Int? = nil, atMost max: Int? = nil) -> Int? {
        guard let n = number() else { return nil }
        guard n.rounded() == n else {
            fail("must be a whole number, got \(JSONValue.format(n))")
            return nil
        }
        // Bounds are checked on the number, before it becomes an Int, so 1e18 or 1e308 gets the real limit.
        if let min, n < Double(min) {
            fail("must be >= \(min), got \(JSONValue.format(n))")
            return nil
        }
        if let max, n > Double(max) {
            fail("must be <= \(max), got \(JSONValue.format(n))")
            return nil
        }
        guard abs(n) < 1e15 else {
            fail("must be a whole number below 10^15, got \(JSONValue.format(n))")
            return nil
        }
        return Int(n)
    }

    /// A duration string in seconds (`"250ms"`, `"30s"`, `"2m"`).
    package func duration(positive: Bool = true) -> Double? {
        guard case .string(let s) = value else {
            fail(
                "must be a duration string, got \(value.kindDescription)",
                hint: "write durations as strings like \"250ms\", \"30s\", \"2m\""
            )
            return nil
        }
        guard let secs = DurationText.seconds(s) else {
            fail("is not a duration: \"\(s)\"", hint: "use a number with ms, s, m or h, like \"250ms\" or \"1m30s\"")
            return nil
        }
        if positive && secs <= 0 {
            fail("must be longer than 0, got \"\(s)\"")
            return nil
        }
        // Longer than any run, and short enough that no arithmetic in nanoseconds can overflow.
        if secs > DurationText.maxSeconds {
            fail("must be at most 8760h (a year), got \"\(s)\"")
            return nil
        }
        return secs
    }

    package func oneOf<E: RawRepresentable & CaseIterable>(_ type: E.Type) -> E? where E.RawValue == String {
        guard let s = string() else { return nil }
        guard let e = E(rawValue: s) else {
            fail("must be one of \(E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(s)\"")
            return nil
        }
        return e
    }

    package init(value: JSONValue, path: String, diag: Diagnostics) {
        self.value = value
        self.path = path
        self.diag = diag
    }
}

/// An object whose keys were checked against the allowed ones.
package struct JSONObjectNode {
    package let dict: [String: JSONValue]
    package let node: JSONNode

    package var path: String { node.path }

    package func has(_ key: String) -> Bool { dict[key] != nil }

    package func optional(_ key: String) -> JSONNode? {
        dict[key].map { JSONNode(value: $0, path: node.child(key), diag: node.diag) }
    }

    package func required(_ key: String, hint: String? = nil) -> JSONNode? {
        guard let n = optional(key) else {
            node.diag.add(node.child(key), "is required", hint: hint)
            return nil
        }
        return n
    }
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
package func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased())
    let b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = Swift.min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            )
        }
        previous = current
    }
    return previous[b.count]
}
