/// Refuses `matches` patterns that a backtracking engine can take exponential time on.
///
/// Swift's `Regex` backtracks and cannot be interrupted, so a server could hang a run with one crafted header
/// (`^(\w+\s?)*$` against 29 characters takes minutes). The rule is conservative and simple enough to explain in
/// one line: a repeated group (`*`, `+`, `{n,}`, `{n,m}` with m > 1) may not itself contain a repetition or an
/// alternation. That refuses `(a+)+`, `(\w+\s?)*`, `(a|aa)*` and `((ab)*c)+`, and keeps what checks are written
/// with: anchors, classes, `\d+`, `(GET|POST)`, `(\.\d+)?`. Subjects are also capped (`maxSubjectBytes`), which
/// bounds the polynomial cases (`.*.*x`).
enum RegexSafety {
    /// A `matches` check sees at most this many leading bytes of the value.
    static let maxSubjectBytes = 4096

    /// Why `pattern` is refused, or nil when it is accepted.
    static func problem(in pattern: String) -> String? {
        struct Group {
            var repeats = false
            var alternates = false
        }
        var stack = [Group()]
        /// What the last atom was, for the quantifier that may follow it.
        var lastGroup: Group?
        var lastIsAtom = false
        var chars = Array(pattern.unicodeScalars)[...]
        while let c = chars.popFirst() {
            switch c {
            case "\\":
                _ = chars.popFirst()
                lastGroup = nil
                lastIsAtom = true
            case "[":
                // A class is one atom: skip to its unescaped closing bracket (a leading `]` or `^]` is literal).
                if chars.first == "^" { chars.removeFirst() }
                if chars.first == "]" { chars.removeFirst() }
                while let d = chars.popFirst(), d != "]" {
                    if d == "\\" { _ = chars.popFirst() }
                }
                lastGroup = nil
                lastIsAtom = true
            case "(":
                stack.append(Group())
                lastIsAtom = false
            case ")":
                guard stack.count > 1 else { return nil }  // unbalanced: Regex itself reports it
                let group = stack.removeLast()
                stack[stack.count - 1].repeats = stack[stack.count - 1].repeats || group.repeats
                stack[stack.count - 1].alternates = stack[stack.count - 1].alternates || group.alternates
                lastGroup = group
                lastIsAtom = true
            case "|":
                stack[stack.count - 1].alternates = true
                lastIsAtom = false
            case "*", "+", "?", "{":
                var repeats = c == "*" || c == "+"
                if c == "{" {
                    var body = ""
                    while let d = chars.popFirst(), d != "}" { body.unicodeScalars.append(d) }
                    let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                    let upper = parts.count == 2 ? Int(parts[1]) : Int(parts.first ?? "")
                    repeats = parts.count == 2 && parts[1].isEmpty || (upper ?? 0) > 1
                }
                // A lazy or possessive suffix does not change the worst case of the repetition.
                if chars.first == "?" || chars.first == "+" { chars.removeFirst() }
                guard lastIsAtom else { continue }
                if repeats, let group = lastGroup, group.repeats || group.alternates {
                    return group.repeats
                        ? "repeats a group that itself repeats (like (a+)+): it can take exponential time"
                        : "repeats a group with alternatives (like (a|aa)*): it can take exponential time"
                }
                if repeats { stack[stack.count - 1].repeats = true }
                lastGroup = nil
                lastIsAtom = false
            default:
                lastGroup = nil
                lastIsAtom = true
            }
        }
        return nil
    }
}
