import Foundation
import PreflightCore

/// `drill{}` in report.json: what the drill measured, when things happened, what every action did.
public struct DrillSection: Codable, Sendable, Equatable {
    /// How the drill ended (SPEC §5).
    public var ending: Ending
    /// Why the drill was invalid, when it was.
    public var invalidReason: String?
    public var rtoSeconds: Double?
    /// The probe interval: every time below is known to within it.
    public var rtoResolutionSeconds: Double
    public var detectionSeconds: Double?
    public var timeToFirstSuccessSeconds: Double?
    public var sloRecoveredSeconds: Double?
    /// Null when the drill has no canary (RPO was not measured).
    public var rpoSeconds: Double?
    public var lostWrites: Int?
    public var acknowledgedWrites: Int?
    public var rpoMeasured: Bool
    /// Why RPO and lost writes were not measured (no canary block; the service never answered the read-back).
    public var rpoNotMeasured: String?
    public var timeline: [Event]
    public var probes: ProbeStats
    public var canary: CanarySummary?
    public var actions: [ActionRecord]
    public var objectives: [ThresholdResult]
    /// Seconds from the drill's start to the background load's start, so `timeseries[].t` can be placed on the
    /// drill's time axis.
    public var backgroundOffsetSeconds: Double?

    /// Seconds rounded to the microsecond (nil stays nil): durations computed as differences carry float noise.
    public static func microseconds(_ seconds: Double?) -> Double? {
        seconds.map { $0.isFinite ? ($0 * 1_000_000).rounded() / 1_000_000 : $0 }
    }

    /// `completed`, `invalid` (steady state never held, fault not verified) or `interrupted`.
    public enum Ending: String, Codable, Sendable, Equatable {
        case completed, invalid, interrupted
    }

    /// A milestone of the drill's timeline, named as report.json writes it.
    public enum Milestone: String, Codable, Sendable, Equatable, CaseIterable {
        case steadyState = "steady-state"
        case faultStart = "fault-start"
        case fault, detection, verified
        case firstSuccess = "first-success"
        case recovered
        case sloRecovered = "slo-recovered"
        case recoveryTimeout = "recovery-timeout"
        case end
    }

    public struct Event: Codable, Sendable, Equatable {
        public var event: Milestone
        /// Seconds since the drill started.
        public var t: Double
        public var at: Date
    }

    public struct ProbeStats: Codable, Sendable, Equatable {
        public var intervalSeconds: Double
        public var passed: Int
        public var failed: Int
        /// `[t, 1|0]` per probe, for the report's strip.
        public var samples: [ProbeSample]
    }
}

extension DrillStateMachine.Timeline {
    /// The milestones the machine has reached, as report.json names them. `slo-recovered` is not among them: it is
    /// found afterwards, in the background load's buckets.
    public var milestones: [(DrillSection.Milestone, Double)] {
        let all: [(DrillSection.Milestone, Double?)] = [
            (.steadyState, steadyHeld), (.faultStart, faultStarted), (.fault, faultCompleted),
            (.detection, firstFailedProbe), (.verified, verified), (.firstSuccess, firstSuccessAfterFailure),
            (.recovered, recovered), (.recoveryTimeout, recoveryTimedOut), (.end, finished),
        ]
        return all.compactMap { name, t in t.map { (name, $0) } }
    }
}

extension Drill {
    /// When the background load's p95 and error rate are back within the steady state's (× tolerance) for a whole
    /// window, in seconds after the fault action's completion; nil when it never was within the observed load.
    static func sloRecovered(
        timeseries: [TimePoint],
        bucketSeconds: Double,
        offset: Double,
        faultStarted: Double,
        faultCompleted: Double,
        slo: SLO
    ) -> Double? {
        // Bucket i covers [start, end) on the drill's time axis.
        let buckets = timeseries.map { (start: offset + $0.t - bucketSeconds, end: offset + $0.t, point: $0) }
        let before = buckets.filter { $0.end <= faultStarted && $0.point.requests > 0 }
        guard !before.isEmpty else { return nil }
        let p95s = before.compactMap(\.point.p95).sorted()
        let baseP95 = p95s.isEmpty ? Double.infinity : p95s[p95s.count / 2]
        let baseErrors =
            Double(before.map(\.point.errors).reduce(0, +)) / Double(before.map(\.point.requests).reduce(0, +))
        let after = buckets.filter { $0.start >= faultCompleted }
        let within: (TimePoint) -> Bool = { p in
            guard p.requests > 0 else { return false }
            let rate = Double(p.errors) / Double(p.requests)
            return (p.p95 ?? .infinity) <= baseP95 * slo.tolerance && rate <= baseErrors * slo.tolerance
        }
        let needed = max(1, Int((slo.window / bucketSeconds).rounded(.up)))
        guard after.count >= needed else { return nil }
        for i in 0...(after.count - needed) where after[i..<(i + needed)].allSatisfy({ within($0.point) }) {
            return max(0, after[i].start - faultCompleted)
        }
        return nil
    }
}
