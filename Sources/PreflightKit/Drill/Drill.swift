import Foundation
import PreflightCore

/// A validated RTO/RPO drill (SPEC §5): steady state, background load, canary writer, fault, recovery, objectives.
public struct Drill: Sendable {
    public var name: String
    public var description: String?
    public var file: String
    public var sha256: String
    public var target: Target
    public var http: HTTPSettings
    public var steadyState: SteadyState
    /// The background load: a load scenario against the same target (its thresholds, if any, count too).
    public var background: Scenario?
    public var canary: Canary?
    public var fault: Fault
    public var recovery: Recovery
    public var rollback: Action?
    public var slo: SLO
    public var objectives: [Objective]
    /// Values masked in every output of the drill (README "Secrets").
    public var secrets = Secrets()

    /// The hypothesis that must hold before the fault, and the probe that tells up from down.
    public struct SteadyState: Sendable {
        public var probe: Probe
        /// Seconds between probes; it is the resolution of every time the drill measures.
        public var interval: Double
        /// Seconds the probe must pass without a failure before the drill goes on.
        public var mustHoldFor: Double
        /// Seconds allowed to reach the steady state; past it the drill is invalid.
        public var timeout: Double
    }

    /// One HTTP request sent on a fresh connection each time, with a timeout no longer than the interval.
    public struct Probe: Sendable {
        public var method: String
        public var path: String
        public var headers: [(name: String, value: String)]
        public var expectStatus: [Int]
        public var timeout: Double
    }

    /// The canary writer: a numbered write every `interval`, logged by the harness, read back after recovery.
    public struct Canary: Sendable {
        public var write: CanaryRequest
        public var read: CanaryRequest
        public var interval: Double
        /// JSON path of the array of stored items in the read answer (`$.canary`; `$` for a top-level array).
        public var items: JSONPath
        /// The key of the sequence number in each item (`seq`); items may also be bare numbers.
        public var seqField: String
        /// Seconds the read-back is retried until the target answers it (default 30 s).
        public var readTimeout: Double
    }

    /// A canary request; placeholders: `{{seq}}`, `{{firstSeq}}` (numbers) and `{{now}}` (ISO 8601 UTC).
    public struct CanaryRequest: Sendable {
        public var method: String
        public var path: Template
        public var headers: [(name: String, value: Template)]
        public var body: BodyTemplate?
    }

    /// A command the drill runs: argv with `${VAR}` expanded at load, its own timeout.
    public struct Action: Sendable {
        public var argv: [String]
        public var timeout: Double
    }

    public enum Verification: Sendable {
        /// Probes must fail within `within` seconds of the fault action's completion.
        case probeFails(within: Double)
        /// This command must exit 0.
        case command(Action)
    }

    public struct Fault: Sendable {
        /// Seconds after the background load started.
        public var after: Double
        public var action: Action
        public var verify: Verification
    }

    public struct Recovery: Sendable {
        /// Runs once the fault is verified (a restart, a failover); none when the system heals itself.
        public var action: Action?
        public var consecutiveSuccesses: Int
        /// Seconds from the fault action's completion; past it the drill stops waiting and the RTO objective fails.
        public var timeout: Double
    }

    /// When the background load is back within its steady-state p95 and error rate.
    public struct SLO: Sendable {
        public var tolerance: Double = 1.5
        public var window: Double = 5
    }

    /// `rto`, `detection`, `rpo`, `sloRecovered` (durations, compared in seconds) and `lostWrites` (a count).
    public struct Objective: Sendable {
        public enum Kind: String, Sendable, CaseIterable {
            case rto, detection, rpo, lostWrites, sloRecovered

            /// The threshold name in reports.
            public var metric: String {
                switch self {
                case .rto: Metric.drillRTO.rawValue
                case .detection: Metric.drillDetection.rawValue
                case .rpo: Metric.drillRPO.rawValue
                case .lostWrites: Metric.drillLostWrites.rawValue
                case .sloRecovered: Metric.drillSLORecovered.rawValue
                }
            }

            public var isDuration: Bool { self != .lostWrites }
        }

        public var kind: Kind
        /// As written: `<30s`, `==0`.
        public var expression: String
        public var op: ThresholdSpec.Operator
        /// Seconds for durations, a count for `lostWrites`.
        public var bound: Double
    }
}
