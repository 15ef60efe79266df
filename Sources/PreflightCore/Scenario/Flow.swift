/// One step of a flow (SPEC §14): what it captures from its answer, whether it repeats until a check holds, and
/// what a failure does to the rest of the iteration. The step's request is `Scenario.requests[k]` for step `k`,
/// so every step is a request name in the metrics, the report and the thresholds, as in a `requests` scenario.
public struct FlowStep: Sendable {
    public enum OnFailure: String, Sendable, CaseIterable {
        /// The rest of the iteration is skipped (and counted in `flow.stopped`).
        case stop
        /// The next step runs anyway; its placeholders whose capture failed are empty.
        case `continue`
    }

    public var captures: [Capture] = []
    public var until: Until?
    public var onFailure = OnFailure.stop

    public init(captures: [Capture] = [], until: Until? = nil, onFailure: OnFailure = .stop) {
        self.captures = captures
        self.until = until
        self.onFailure = onFailure
    }
}

/// A value taken from a step's answer for `{{name}}` in later steps of the same iteration, on the same VU.
public struct Capture: Sendable {
    public enum Source: Sendable, Equatable {
        /// A JSON path into the body; a number or boolean keeps its JSON type in later JSON bodies.
        case json(JSONPath)
        /// A response header, by case-insensitive name (the first of that name).
        case header(String)
        /// A cookie the answer set (`Set-Cookie`), by name.
        case cookie(String)
        /// The body as text (with `regex`).
        case body

        /// Whether it reads the body (else the headers).
        public var readsBody: Bool {
            switch self {
            case .json, .body: true
            case .header, .cookie: false
            }
        }
    }

    public var name: String
    public var source: Source
    /// Applied to the source's text: the first group's text, or the whole match when the pattern has no group.
    public var regex: String?

    public init(name: String, source: Source, regex: String? = nil) {
        self.name = name
        self.source = source
        self.regex = regex
    }
}

/// Repeat a step until its check holds (polling an asynchronous job): each attempt is a request in the metrics.
public struct Until: Sendable {
    public var check: Check
    /// Seconds between the end of one attempt and the start of the next.
    public var every: Double
    /// Attempts at most, the first included; when the last one still fails the check, the step failed.
    public var max: Int

    public init(check: Check, every: Double, max: Int) {
        self.check = check
        self.every = every
        self.max = max
    }
}
