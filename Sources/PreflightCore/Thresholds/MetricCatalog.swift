/// Every metric a report or threshold names, with k6's names: one catalog for thresholds, formatting and reports.
public enum Metric: String, CaseIterable, Sendable {
    case httpReqs = "http_reqs"
    case httpReqDuration = "http_req_duration"
    case httpReqFailed = "http_req_failed"
    // Timing phases (SPEC §15), k6's names: where each request's time went.
    case httpReqBlocked = "http_req_blocked"
    case httpReqConnecting = "http_req_connecting"
    case httpReqTLSHandshaking = "http_req_tls_handshaking"
    case httpReqSending = "http_req_sending"
    case httpReqWaiting = "http_req_waiting"
    case httpReqReceiving = "http_req_receiving"
    case checks
    case iterations
    /// A flow's whole iteration (SPEC §14); only flow scenarios report it.
    case iterationDuration = "iteration_duration"
    case droppedIterations = "dropped_iterations"
    case vus
    case vusMax = "vus_max"
    case dataReceived = "data_received"
    case dataSent = "data_sent"
    // Drill objectives (SPEC §5); they appear as thresholds of drill reports, never in load scenarios.
    /// The sustainable rate a `capacity-search` confirmed (SPEC §16), per its `timeUnit`.
    case capacity
    case drillRTO = "drill_rto"
    case drillDetection = "drill_detection"
    case drillRPO = "drill_rpo"
    case drillLostWrites = "drill_lost_writes"
    case drillSLORecovered = "drill_slo_recovered"

    /// How values aggregate (k6's metric types).
    public enum Kind: String, Sendable {
        case counter, gauge, rate, trend
        /// A series of the target's own metrics (`server{NAME}`, SPEC §13).
        case server
    }

    /// What one value of the metric is, for people.
    public enum Unit: Sendable {
        case milliseconds, fraction, bytes, count
    }

    public var kind: Kind {
        switch self {
        case .httpReqs, .iterations, .droppedIterations, .dataReceived, .dataSent, .drillLostWrites: .counter
        case .httpReqDuration, .iterationDuration, .drillRTO, .drillDetection, .drillRPO, .drillSLORecovered: .trend
        case .httpReqBlocked, .httpReqConnecting, .httpReqTLSHandshaking, .httpReqSending, .httpReqWaiting,
            .httpReqReceiving:
            .trend
        case .httpReqFailed, .checks: .rate
        case .vus, .vusMax, .capacity: .gauge
        }
    }

    public var unit: Unit {
        switch self {
        case .httpReqDuration, .iterationDuration, .drillRTO, .drillDetection, .drillRPO, .drillSLORecovered,
            .httpReqBlocked, .httpReqConnecting, .httpReqTLSHandshaking, .httpReqSending, .httpReqWaiting,
            .httpReqReceiving:
            .milliseconds
        case .httpReqFailed, .checks: .fraction
        case .dataReceived, .dataSent: .bytes
        case .httpReqs, .iterations, .droppedIterations, .vus, .vusMax, .drillLostWrites, .capacity: .count
        }
    }

    /// Tags a threshold may filter the metric by.
    public var tags: Set<String> {
        switch self {
        case .httpReqs, .httpReqDuration, .httpReqFailed: ["name", "status"]
        case .checks, .dataReceived, .dataSent: ["name"]
        // Per request name (the phases are kept per name, not per status).
        case .httpReqBlocked, .httpReqConnecting, .httpReqTLSHandshaking, .httpReqSending, .httpReqWaiting,
            .httpReqReceiving:
            ["name"]
        default: []
        }
    }

    /// Metrics of load runs: what a scenario's thresholds may name, and what `report.json` summarises.
    public static let load: [Metric] = allCases.filter { !$0.rawValue.hasPrefix("drill_") }

    /// The timing phase this metric measures, if it is one.
    public var phase: Phase? { Phase.allCases.first { $0.metric == self } }

    /// The metric of a (sub-)metric expression such as `http_req_duration{name:features}`.
    public init?(expression: String) {
        self.init(rawValue: String(expression.prefix { $0 != "{" }))
    }
}

extension Phase {
    /// The phase's metric, k6's name.
    public var metric: Metric {
        switch self {
        case .blocked: .httpReqBlocked
        case .connecting: .httpReqConnecting
        case .tlsHandshaking: .httpReqTLSHandshaking
        case .sending: .httpReqSending
        case .waiting: .httpReqWaiting
        case .receiving: .httpReqReceiving
        }
    }
}

/// The metrics a threshold may name, with k6's names, types and tags.
public enum MetricCatalog {
    public typealias Kind = Metric.Kind

    /// Tags each load metric can be filtered by.
    public static let metrics: [String: (kind: Kind, tags: Set<String>)] = Dictionary(
        uniqueKeysWithValues: Metric.load.map { ($0.rawValue, ($0.kind, $0.tags)) }
    )

    /// Aggregations allowed per metric type.
    package static func aggregations(for kind: Kind) -> String {
        switch kind {
        case .counter: "count, rate"
        case .gauge: "value, min, max"
        case .rate: "rate"
        case .trend: "p(N), avg, min, med, max, count"
        case .server: "value (or rate: over the whole run), avg, min, max (over the scrape intervals)"
        }
    }
}
