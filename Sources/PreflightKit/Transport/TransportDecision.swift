import Foundation
import PreflightCore

/// How the transport was chosen for a run, as recorded in the report.
public struct TransportDecision: Sendable {
    public var mode: TransportMode
    public var reason: String
    public var probe: ProbeInfo?
    public var mock: MockInfo?
    /// What to do if the choice is wrong (a mock after the probe); shown in the banner and the report's warnings.
    public var advice: String?

    public init(
        mode: TransportMode,
        reason: String,
        probe: ProbeInfo? = nil,
        mock: MockInfo? = nil,
        advice: String? = nil
    ) {
        self.mode = mode
        self.reason = reason
        self.probe = probe
        self.mock = mock
        self.advice = advice
    }

    /// `--mode real`: no probe, no mock.
    public static let forcedReal = TransportDecision(mode: .real, reason: "mode real: the target is always used")
}

/// What the probe saw, as the report records it.
public struct ProbeInfo: Codable, Sendable, Equatable {
    public var status: Int?
    public var error: String?
    public var latencyMs: Double?
    public var contentType: String?
    /// SHA-256 of the answer's body, so two answers can be compared in the report.
    public var bodySHA256: String?
    /// After a 404/405: the answers to paths that cannot exist, which told a missing route from a missing
    /// resource.
    public var decoys: [ProbeAnswer]?
    /// The statuses that meant "no endpoint" (`transport.probe.missingStatuses` replaces the default
    /// `[404, 405, 501]`; it does not add to it).
    public var missingStatuses: [Int]?

    public init(
        status: Int? = nil,
        error: String? = nil,
        latencyMs: Double? = nil,
        contentType: String? = nil,
        bodySHA256: String? = nil,
        decoys: [ProbeAnswer]? = nil,
        missingStatuses: [Int]? = nil
    ) {
        self.status = status
        self.error = error
        self.latencyMs = latencyMs
        self.contentType = contentType
        self.bodySHA256 = bodySHA256
        self.decoys = decoys
        self.missingStatuses = missingStatuses
    }
}

/// One probe answer, as recorded.
public struct ProbeAnswer: Codable, Sendable, Equatable {
    public var path: String
    public var status: Int?
    public var error: String?
    public var contentType: String?
    public var bodySHA256: String?
}

/// The mock's latency model and seed, as the report records them.
public struct MockInfo: Codable, Sendable {
    public var distribution: String
    public var params: [String: Double]
    public var seed: UInt64
}
