/// One problem in a scenario file, at a JSON path, with a hint that says how to fix it.
public struct ScenarioProblem: Sendable, Equatable, CustomStringConvertible {
    /// A message and hint before it is tied to a path.
    public struct Reason: Sendable, Equatable, Error {
        public var message: String
        public var hint: String?
        public init(_ message: String, hint: String? = nil) {
            self.message = message
            self.hint = hint
        }
    }

    /// A JSON path such as `$.load.rate` or `$.thresholds["http_req_duration{name:x}"][0]`.
    public var path: String
    public var message: String
    public var hint: String?

    /// Control characters from the scenario (CR, LF, ESC, …) are shown escaped, so a value can not forge output
    /// lines or send terminal escapes.
    public var description: String {
        Self.printable("\(path): \(message)" + (hint.map { " (\($0))" } ?? ""))
    }

    /// This problem with every secret masked in its message and hint.
    public func redacted(_ secrets: Secrets) -> ScenarioProblem {
        var p = self
        p.message = secrets.redact(message)
        p.hint = hint.map(secrets.redact)
        return p
    }

    package static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    public init(path: String, message: String, hint: String? = nil) {
        self.path = path
        self.message = message
        self.hint = hint
    }
}

/// Every problem found in one scenario file; nothing was sent.
public struct ScenarioError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var problems: [ScenarioProblem]

    public var description: String {
        problems.map { "\(file): \($0)" }.joined(separator: "\n")
    }

    public init(file: String, problems: [ScenarioProblem]) {
        self.file = file
        self.problems = problems
    }
}
