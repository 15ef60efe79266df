import Foundation

/// `report.json` `capacity{}`: what a `capacity-search` found (SPEC §16).
public struct CapacitySection: Sendable, Codable, Equatable {
    /// One step of the search.
    public struct Step: Sendable, Codable, Equatable {
        /// Open model: the offered rate per `timeUnitSeconds`, as the scenario writes rates. Closed model: the
        /// throughput achieved per second.
        public var rate: Double
        /// Closed model: the step's VUs.
        public var vus: Int?
        /// `rise`, `down`, `bisect` or `hold`.
        public var purpose: String
        public var seconds: Double
        /// Iterations per second offered and achieved (completed over the step's time, its drain included).
        public var offeredPerSecond: Double
        public var achievedPerSecond: Double
        public var iterations: Int
        public var dropped: Int
        public var errorRate: Double
        /// `http_req_duration` percentiles (corrected for coordinated omission), ms.
        public var p50Ms: Double?
        public var p95Ms: Double?
        public var p99Ms: Double?
        /// `good` or `bad`.
        public var verdict: String
        /// Why a bad step was bad: the thresholds it broke, or what could not be offered.
        public var why: String?
        /// p95 over the first and the last third of the step (ms): a climb means a growing queue.
        public var p95EarlyMs: Double?
        public var p95LateMs: Double?
    }

    /// `open` (steps of arrival rate) or `closed` (steps of VUs).
    public var model: String
    /// Stairs: the fixed rates planned, per `timeUnitSeconds` (each stair's `confirmSeconds` long); absent for the
    /// adaptive search.
    public var stairs: [Double]?
    /// The highest rate found sustainable, per `timeUnitSeconds`: the held rate when `confirmed`, else the best
    /// short step's (nil when no step was good). Closed model: the throughput at `sustainableVUs`.
    public var sustainableRate: Double?
    /// Closed model: the most VUs found sustainable, and the fewest that failed.
    public var sustainableVUs: Int?
    public var firstFailingVUs: Int?
    /// Closed model: the Universal Scalability Law fitted to throughput by VUs.
    public var usl: USLFit?
    /// Whether a hold of `confirmSeconds` at `sustainableRate` passed. A `capacity` threshold only passes when it did.
    public var confirmed: Bool
    public var timeUnitSeconds: Double
    public var confirmSeconds: Double
    /// The lowest rate a step failed at, and why.
    public var firstFailingRate: Double?
    public var firstFailingWhy: String?
    /// True when even `maxRate` passed: the capacity is at least that, not measured.
    public var cappedByMaxRate: Bool
    /// Why the search ended without a passed hold.
    public var stopReason: String?
    /// The thresholds each step was judged by.
    public var objectives: [String]
    /// Wall-clock seconds of the whole search (warm-ups and drains included), and the bound it had.
    public var totalSeconds: Double
    public var boundSeconds: Double
    public var steps: [Step]

    /// Builds the section from a finished (or interrupted) search.
    public init(_ machine: CapacitySearchMachine, objectives: [String], totalSeconds: Double) {
        let search = machine.search
        let closed = search.model == .closed
        model = search.model.rawValue
        stairs = search.stairs
        if closed {
            sustainableVUs = machine.sustainableRate.map { Int($0) }
            firstFailingVUs = machine.firstFailingRate.map { Int($0) }
            // The throughput at those VUs: the hold's when there was one, else the latest step's.
            sustainableRate = machine.sustainableRate.flatMap { level in
                machine.steps.last { $0.rate == level && $0.good }?.figures.achieved
            }
            usl = machine.usl
        } else {
            sustainableRate = machine.sustainableRate
        }
        confirmed = machine.confirmed != nil
        timeUnitSeconds = search.timeUnit
        confirmSeconds = search.confirm
        firstFailingRate = closed ? machine.firstFailingStep?.figures.achieved : machine.firstFailingRate
        firstFailingWhy = machine.firstFailingStep?.figures.problem
        cappedByMaxRate = machine.cappedByMaxRate
        stopReason = machine.stopReason
        self.objectives = objectives
        self.totalSeconds = totalSeconds
        boundSeconds = search.issuingSeconds
        steps = machine.steps.map { s in
            let f = s.figures
            return Step(
                rate: closed ? f.achieved : s.rate,
                vus: closed ? Int(s.rate) : nil,
                purpose: s.purpose.rawValue,
                seconds: f.seconds,
                offeredPerSecond: f.offered,
                achievedPerSecond: f.achieved,
                iterations: f.iterations,
                dropped: f.dropped,
                errorRate: f.errorRate,
                p50Ms: f.p50,
                p95Ms: f.p95,
                p99Ms: f.p99,
                verdict: s.good ? "good" : "bad",
                why: f.problem,
                p95EarlyMs: f.p95Early,
                p95LateMs: f.p95Late
            )
        }
    }

    /// The one line a text summary gives: "sustainable 412/s (http_req_duration p(95)<100), confirmed over 30 s;
    /// first failing 450/s: http_req_duration p(95)<100 (observed 180.2)".
    public var summaryLine: String {
        let unit = timeUnitSeconds == 1 ? "/s" : " per \(DurationText.format(seconds: timeUnitSeconds))"
        let rate = { (r: Double) in "\(JSONValue.format((r * 10).rounded() / 10))\(unit)" }
        let objective = objectives.isEmpty ? "" : " (\(objectives.joined(separator: ", ")))"
        var line: String
        if let vus = sustainableVUs {
            let at = ([sustainableRate.map(rate) ?? "?"] + objectives).joined(separator: ", ")
            line = "sustainable \(vus) VUs (\(at)), "
            line +=
                confirmed
                ? "confirmed over \(DurationText.format(seconds: confirmSeconds))"
                : "NOT confirmed (\(stopReason ?? "no hold passed"))"
            if cappedByMaxRate { line += "; maxVUs reached" }
        } else if let sustainable = sustainableRate {
            line = "sustainable \(rate(sustainable))\(objective), "
            line +=
                confirmed
                ? "confirmed over \(DurationText.format(seconds: confirmSeconds))\(stairs == nil ? "" : " (a stair)")"
                : "NOT confirmed (\(stopReason ?? "no hold passed"))"
            if cappedByMaxRate { line += "; maxRate reached: the capacity is at least this" }
        } else {
            line = "no sustainable rate found\(objective): \(stopReason ?? "no step passed")"
        }
        if let vus = firstFailingVUs {
            line += "; first failing \(vus) VUs: \(firstFailingWhy ?? "")"
        } else if let bad = firstFailingRate {
            line += "; first failing \(rate(bad)): \(firstFailingWhy ?? "")"
        }
        if let u = usl {
            line +=
                "; USL σ \(JSONValue.format((u.sigma * 1e4).rounded() / 1e4)) κ \(JSONValue.format((u.kappa * 1e6).rounded() / 1e6))"
            if let n = u.peakConcurrency, let x = u.peakThroughput {
                line += ", peak \(JSONValue.format((n * 10).rounded() / 10)) VUs at \(rate(x))"
            }
            line += " (R² \(JSONValue.format((u.rSquared * 1000).rounded() / 1000)))"
        }
        return line
    }
}
