import Foundation

/// Expands `${NAME}` and `${NAME:-default}` in every string of a document (`$${` stays a literal `${`).
///
/// Values come from `--var` first, then the environment. Expansion happens on parsed strings, never on the raw
/// text, so a value can not break the JSON around it.
package struct VariableExpander {
    package var variables: [String: String]
    package var environment: [String: String]
    /// The text before expansion of every string that held a variable, by JSON path: labels that end up in
    /// reports (check names) show `${ADMIN_TOKEN}`, never its value.
    package let unexpanded = UnexpandedStrings()

    package func lookup(_ name: String) -> String? { variables[name] ?? environment[name] }

    package func expand(_ value: JSONValue, path: String, diag: Diagnostics) -> JSONValue {
        switch value {
        case .string(let s):
            guard Self.holdsMarker(s) else { return value }
            unexpanded.byPath[path] = s
            return .string(expand(string: s, path: path, diag: diag))
        case .array(let items):
            // Most of a big document (an inline feed of millions of values) holds no variable: it is kept as it
            // is, without a path string per item.
            guard items.contains(where: Self.holdsVariable) else { return value }
            return .array(items.enumerated().map { expand($1, path: "\(path)[\($0)]", diag: diag) })
        case .object(let dict):
            let node = JSONNode(value: value, path: path, diag: diag)
            return .object(
                dict.reduce(into: [:]) { $0[$1.key] = expand($1.value, path: node.child($1.key), diag: diag) }
            )
        default:
            return value
        }
    }

    /// Whether `s` holds `${`, by its bytes (Foundation's `contains` costs a string search object per call).
    package static func holdsMarker(_ s: String) -> Bool {
        var previous: UInt8 = 0
        for b in s.utf8 {
            if b == UInt8(ascii: "{") && previous == UInt8(ascii: "$") { return true }
            previous = b
        }
        return false
    }

    /// Whether a value holds `${` anywhere.
    package static func holdsVariable(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): holdsMarker(s)
        case .array(let items): items.contains(where: holdsVariable)
        case .object(let dict): dict.values.contains(where: holdsVariable)
        default: false
        }
    }

    package func expand(string s: String, path: String, diag: Diagnostics) -> String {
        guard s.contains("${") else { return s }
        var out = ""
        var rest = Substring(s)
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            if out.hasSuffix("$") {  // "$${" is an escaped literal
                out.removeLast()
                out += "${"
                rest = rest[start.upperBound...]
                continue
            }
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                diag.add(path, "has \"${\" without a closing \"}\"", hint: "write ${NAME} or ${NAME:-default}")
                return s
            }
            let body = rest[start.upperBound..<end]
            // Shell semantics: ${NAME:-d} takes d when NAME is unset or empty, ${NAME-d} only when it is unset.
            let name: Substring
            let fallback: Substring?
            var emptyTakesDefault = false
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
                emptyTakesDefault = true
            } else if let dash = body.firstIndex(of: "-") {
                name = body[..<dash]
                fallback = body[body.index(after: dash)...]
            } else {
                name = body
                fallback = nil
            }
            let validName =
                !name.isEmpty && name.first.map { $0.isLetter || $0 == "_" } == true
                && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
            if !validName {
                diag.add(path, "has an invalid variable ${\(body)}", hint: "names use letters, digits and _")
                return s
            }
            unexpanded.referenced.insert(String(name))
            if let v = lookup(String(name)), !(v.isEmpty && emptyTakesDefault && fallback != nil) {
                out += v
            } else if let fallback {
                out += fallback
            } else {
                diag.add(
                    path,
                    "variable ${\(name)} is not set",
                    hint: "pass --var \(name)=VALUE, set it in the environment, or write ${\(name):-default}"
                )
            }
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        return out
    }

    package init(variables: [String: String], environment: [String: String]) {
        self.variables = variables
        self.environment = environment
    }
}

/// Strings as written, before variables were expanded, by JSON path; and the names of the variables used.
package final class UnexpandedStrings {
    package var byPath: [String: String] = [:]
    package var referenced: Set<String> = []
}

extension VariableExpander {
    /// The values of the variables the document referenced that are secret: their names look secret (TOKEN,
    /// SECRET, PASSWORD, KEY, AUTH) or are in `secretNames`; plus every `--var` whose name looks secret or is
    /// in `secretNames`, used or not (the environment's other variables are not the run's business).
    package func secrets(named secretNames: Set<String>) -> Secrets {
        var s = Secrets()
        for name in unexpanded.referenced where Secrets.nameLooksSecret(name) || secretNames.contains(name) {
            if let v = lookup(name) { s.insert(v) }
        }
        for (name, v) in variables where Secrets.nameLooksSecret(name) || secretNames.contains(name) { s.insert(v) }
        for name in secretNames { if let v = lookup(name) { s.insert(v) } }
        return s
    }
}
