import Foundation

/// A string with `{{name}}` placeholders, parsed once so rendering never searches the text again.
public struct Template: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case variable(String)
    }

    public let parts: [Part]
    public let source: String
    /// Placeholders written `{{name:string}}`: in a JSON body they are sent as a JSON string whatever the value.
    public let forcedText: Set<String>

    public var description: String { source }

    /// Names of the placeholders, in order of appearance.
    public var variables: [String] {
        parts.compactMap { if case .variable(let v) = $0 { v } else { nil } }
    }

    public var isConstant: Bool { variables.isEmpty }

    /// Whether the placeholder `name` was written `{{name:string}}`.
    public func forcesText(_ name: String) -> Bool { forcedText.contains(name) }

    /// A template without placeholders.
    public init(literal: String) {
        source = literal
        parts = literal.isEmpty ? [] : [.literal(literal)]
        forcedText = []
    }

    /// Parses `text`; `{{` without a closing `}}` or an empty name is an error. A name may end in `:string`
    /// (the only type suffix), which only matters in a JSON body.
    public static func parse(_ text: String) -> Result<Template, ScenarioProblem.Reason> {
        var parts: [Part] = []
        var forced: Set<String> = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                return .failure(.init("has \"{{\" without a closing \"}}\"", hint: "write placeholders as {{name}}"))
            }
            var name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if let colon = name.firstIndex(of: ":") {
                let type = name[name.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                guard type == "string" else {
                    return .failure(
                        .init(
                            "has an unknown placeholder type {{\(name)}}",
                            hint: "the only type is :string, as in {{\(name[..<colon]):string}}"
                        )
                    )
                }
                name = name[..<colon].trimmingCharacters(in: .whitespaces)
                forced.insert(name)
            }
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" })
            else {
                return .failure(
                    .init("has an invalid placeholder {{\(name)}}", hint: "names use letters, digits, _ . -")
                )
            }
            parts.append(.variable(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        return .success(Template(parts: parts, source: text, forcedText: forced))
    }

    private init(parts: [Part], source: String, forcedText: Set<String>) {
        self.parts = parts
        self.source = source
        self.forcedText = forcedText
    }

    /// The text with each placeholder replaced by `value(name)`.
    public func render(_ value: (String) -> String) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .variable(let v): out += value(v)
            }
        }
        return out
    }
}
