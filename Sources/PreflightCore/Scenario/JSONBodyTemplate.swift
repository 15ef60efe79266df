/// A JSON body (an object or array in the scenario) compiled once into literal JSON text and typed holes, so a
/// placeholder can never break the document, whatever its value holds.
///
/// The rules (SPEC §4): a string that is exactly one placeholder takes the value's JSON type (`"{{seq}}"` sends
/// `5` when the value is a number, `true`/`false` for booleans, a JSON string otherwise); `"{{name:string}}"`
/// always sends a JSON string; a placeholder inside a longer string, or in an object key, is inserted
/// JSON-escaped. Keys are written sorted, so the same scenario always sends the same bytes.
public struct JSONBodyTemplate: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        /// JSON text, already encoded.
        case literal(String)
        /// A whole JSON value: a number, a boolean or a quoted string, by the value's type.
        case value(String)
        /// A quoted JSON string whatever the value's type (`"{{name:string}}"`).
        case string(String)
        /// The value's text escaped for the inside of a JSON string (the quotes are literals around it).
        case escaped(String)
    }

    public let parts: [Part]

    /// The JSON text with `{{placeholders}}` where the values go.
    public var description: String {
        parts.map {
            switch $0 {
            case .literal(let s): s
            case .value(let v): "{{\(v)}}"
            case .string(let v): "\"{{\(v):string}}\""
            case .escaped(let v): "{{\(v)}}"
            }
        }.joined()
    }

    public var variables: [String] {
        parts.compactMap {
            switch $0 {
            case .literal: nil
            case .value(let v), .string(let v), .escaped(let v): v
            }
        }
    }

    public var isConstant: Bool { variables.isEmpty }

    /// Compiles a JSON value; a malformed placeholder in any string is an error naming it.
    public static func compile(_ value: JSONValue) -> Result<JSONBodyTemplate, ScenarioProblem.Reason> {
        var builder = Builder()
        if let problem = builder.emit(value) { return .failure(problem) }
        builder.flush()
        return .success(JSONBodyTemplate(parts: builder.parts))
    }

    private struct Builder {
        var parts: [Part] = []
        var pending = ""

        mutating func flush() {
            if !pending.isEmpty { parts.append(.literal(pending)) }
            pending = ""
        }

        mutating func hole(_ part: Part) {
            flush()
            parts.append(part)
        }

        mutating func emit(_ value: JSONValue) -> ScenarioProblem.Reason? {
            switch value {
            case .null: pending += "null"
            case .bool(let b): pending += b ? "true" : "false"
            case .number(let n): pending += JSONValue.format(n)
            case .string(let s): return emitString(s, typed: true)
            case .array(let items):
                pending += "["
                for (i, item) in items.enumerated() {
                    if i > 0 { pending += "," }
                    if let problem = emit(item) { return problem }
                }
                pending += "]"
            case .object(let dict):
                pending += "{"
                for (i, key) in dict.keys.sorted().enumerated() {
                    if i > 0 { pending += "," }
                    if let problem = emitString(key, typed: false) { return problem }
                    pending += ":"
                    if let problem = emit(dict[key]!) { return problem }
                }
                pending += "}"
            }
            return nil
        }

        mutating func emitString(_ s: String, typed: Bool) -> ScenarioProblem.Reason? {
            let template: Template
            switch Template.parse(s) {
            case .success(let t): template = t
            case .failure(let reason): return reason
            }
            if typed, template.parts.count == 1, case .variable(let name) = template.parts[0] {
                hole(template.forcesText(name) ? .string(name) : .value(name))
                return nil
            }
            pending += "\""
            for part in template.parts {
                switch part {
                case .literal(let text): JSONEscape.appendEscaped(text, to: &pending)
                case .variable(let name): hole(.escaped(name))
                }
            }
            pending += "\""
            return nil
        }
    }
}
