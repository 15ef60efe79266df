import PreflightCore

/// The phases of a drill as a value type: inputs (a probe result, the clock, an action finished, a signal, the
/// canary read back) go in, actions for the runner come out. No I/O and no clock of its own, so every transition
/// and every timeout is tested with synthetic times (seconds since the drill started).
///
/// steady state → loaded (background + canary) → fault action → verification → recovery → settling (the
/// background keeps running for the SLO window) → canary read-back → rollback → finished. A drill is invalid only
/// when it proved nothing (SPEC §5: the steady state never held, the fault failed or could not be verified); a
/// service that never recovers, or whose canary series cannot be read back, completes the drill and fails it.
/// Any phase can also end interrupted; the rollback action runs in every case.
public struct DrillStateMachine: Sendable {
    public struct Config: Sendable {
        public var mustHoldFor: Double
        public var steadyTimeout: Double
        public var faultAfter: Double
        /// nil: verified by a command; else probes must fail within this many seconds of the fault's completion.
        public var verifyWithin: Double?
        public var consecutiveSuccesses: Int
        public var recoveryTimeout: Double
        /// Seconds the background load keeps running after recovery (the SLO window plus a bucket).
        public var settle: Double
        public var hasRecoveryAction: Bool
        public var hasCanary: Bool
        public var hasRollback: Bool

        public init(
            mustHoldFor: Double,
            steadyTimeout: Double,
            faultAfter: Double,
            verifyWithin: Double?,
            consecutiveSuccesses: Int,
            recoveryTimeout: Double,
            settle: Double,
            hasRecoveryAction: Bool,
            hasCanary: Bool,
            hasRollback: Bool
        ) {
            self.mustHoldFor = mustHoldFor
            self.steadyTimeout = steadyTimeout
            self.faultAfter = faultAfter
            self.verifyWithin = verifyWithin
            self.consecutiveSuccesses = consecutiveSuccesses
            self.recoveryTimeout = recoveryTimeout
            self.settle = settle
            self.hasRecoveryAction = hasRecoveryAction
            self.hasCanary = hasCanary
            self.hasRollback = hasRollback
        }
    }

    public enum ActionKind: String, Sendable, Codable, CaseIterable {
        case fault, verify, recovery, rollback
    }

    public enum Input: Sendable, Equatable {
        case probe(ok: Bool, at: Double)
        case tick(at: Double)
        case actionFinished(ActionKind, succeeded: Bool, at: Double)
        /// The canary series was read back (`ok`), or could not be read within its timeout.
        case canaryRead(ok: Bool, at: Double)
        case interrupted(at: Double)
    }

    public enum Output: Sendable, Equatable {
        case startBackground
        case runAction(ActionKind)
        case stopBackground
        case readCanary
        case finish
    }

    public enum Phase: Sendable, Equatable {
        case steady(holdingSince: Double?)
        case loaded(since: Double)
        case faulting
        case verifying(deadline: Double?)
        case recovering(streak: Int, streakStart: Double?)
        case settling(until: Double)
        case readingBack
        case rollingBack
        case finished
    }

    /// How the drill ended, before objectives are judged.
    public enum Ending: Sendable, Equatable {
        case completed
        case invalid(String)
        case interrupted
    }

    /// Times of the drill's milestones, seconds since the drill started; nil when not reached.
    public struct Timeline: Sendable, Equatable {
        public var steadyHeld: Double?
        public var backgroundStarted: Double?
        public var faultStarted: Double?
        public var faultCompleted: Double?
        public var firstFailedProbe: Double?
        public var verified: Double?
        public var firstSuccessAfterFailure: Double?
        public var recovered: Double?
        public var recoveryTimedOut: Double?
        public var finished: Double?
    }

    public let config: Config
    public private(set) var phase: Phase = .steady(holdingSince: nil)
    public private(set) var timeline = Timeline()
    public private(set) var ending: Ending?
    public private(set) var probesPassed = 0
    public private(set) var probesFailed = 0
    /// The canary series could not be read back after recovery (or after the recovery timed out): RPO and lost
    /// writes are unmeasured, and their objectives fail.
    public private(set) var canaryUnreadable = false

    /// The service did not recover within `recovery.timeout`: the worst outcome, which fails the drill.
    public var neverRecovered: Bool { timeline.recoveryTimedOut != nil && timeline.recovered == nil }
    /// Whether the background load and canary writer are running.
    private var backgroundRunning = false

    public init(config: Config) { self.config = config }

    /// When a `.tick` can next change anything, in seconds since the start (the steady state's timeout, the fault's
    /// start, the verification deadline, the recovery timeout, the end of settling); nil when only probes, actions
    /// and read-backs move the drill on. The runner ticks the machine at this time, not on a fixed period.
    public var nextDeadline: Double? {
        switch phase {
        case .steady: config.steadyTimeout
        case .loaded(let since): since + config.faultAfter
        case .verifying(let deadline): deadline
        case .recovering: (timeline.faultCompleted ?? 0) + config.recoveryTimeout
        case .settling(let until): until
        case .faulting, .readingBack, .rollingBack, .finished: nil
        }
    }

    /// RTO: the fault action's completion to the first of N consecutive successful probes.
    public var rto: Double? {
        guard let recovered = timeline.recovered, let done = timeline.faultCompleted else { return nil }
        return max(0, recovered - done)
    }

    /// Detection: the fault action's completion to the first failed probe (0 when probes failed while it ran).
    public var detection: Double? {
        guard let failed = timeline.firstFailedProbe, let done = timeline.faultCompleted else { return nil }
        return max(0, failed - done)
    }

    public var timeToFirstSuccess: Double? {
        guard let first = timeline.firstSuccessAfterFailure, let done = timeline.faultCompleted else { return nil }
        return max(0, first - done)
    }

    public mutating func handle(_ input: Input) -> [Output] {
        if case .probe(let ok, _) = input {
            if ok { probesPassed += 1 } else { probesFailed += 1 }
        }
        if case .interrupted(let at) = input { return interrupt(at: at) }
        switch phase {
        case .steady(let since):
            switch input {
            case .probe(true, let at):
                let start = since ?? at
                if at - start >= config.mustHoldFor {
                    timeline.steadyHeld = at
                    timeline.backgroundStarted = at
                    backgroundRunning = true
                    phase = .loaded(since: at)
                    return [.startBackground]
                }
                phase = .steady(holdingSince: start)
            case .probe(false, _): phase = .steady(holdingSince: nil)
            case .tick(let at) where at >= config.steadyTimeout:
                return end(
                    .invalid(
                        "the steady state never held for \(DurationText.format(seconds: config.mustHoldFor)) "
                            + "within \(DurationText.format(seconds: config.steadyTimeout))"
                    ),
                    at: at
                )
            default: break
            }
        case .loaded(let since):
            if case .tick(let at) = input, at >= since + config.faultAfter {
                timeline.faultStarted = at
                phase = .faulting
                return [.runAction(.fault)]
            }
        case .faulting:
            switch input {
            case .probe(false, let at): noteFailure(at)
            case .actionFinished(.fault, let succeeded, let at):
                guard succeeded else { return end(.invalid("the fault action failed, so nothing was broken"), at: at) }
                timeline.faultCompleted = at
                if let within = config.verifyWithin {
                    if timeline.firstFailedProbe != nil { return verified(at: at) }
                    phase = .verifying(deadline: at + within)
                    return []
                }
                phase = .verifying(deadline: nil)
                return [.runAction(.verify)]
            default: break
            }
        case .verifying(let deadline):
            switch input {
            case .probe(false, let at):
                noteFailure(at)
                if deadline != nil { return verified(at: at) }
            case .actionFinished(.verify, let succeeded, let at):
                guard succeeded else {
                    return end(.invalid("the fault could not be verified: verify exited non-zero"), at: at)
                }
                return verified(at: at)
            case .tick(let at):
                if let deadline, at >= deadline {
                    return end(
                        .invalid(
                            "the fault could not be verified: every probe passed for "
                                + DurationText.format(seconds: deadline - (timeline.faultCompleted ?? 0))
                                + " after the fault action"
                        ),
                        at: at
                    )
                }
            default: break
            }
        case .recovering(let streak, let streakStart):
            switch input {
            case .probe(true, let at):
                if timeline.firstSuccessAfterFailure == nil && timeline.firstFailedProbe != nil {
                    timeline.firstSuccessAfterFailure = at
                }
                let start = streakStart ?? at
                if streak + 1 >= config.consecutiveSuccesses {
                    timeline.recovered = start
                    phase = .settling(until: at + config.settle)
                    return []
                }
                phase = .recovering(streak: streak + 1, streakStart: start)
            case .probe(false, let at):
                noteFailure(at)
                phase = .recovering(streak: 0, streakStart: nil)
            case .tick(let at):
                if at >= (timeline.faultCompleted ?? 0) + config.recoveryTimeout {
                    timeline.recoveryTimedOut = at
                    return afterRecovery(at: at)
                }
            default: break
            }
        case .settling(let until):
            if case .tick(let at) = input, at >= until { return afterRecovery(at: at) }
        case .readingBack:
            if case .canaryRead(let ok, let at) = input {
                canaryUnreadable = !ok
                return rollback(at: at)
            }
        case .rollingBack:
            if case .actionFinished(.rollback, _, let at) = input { return finish(at: at) }
        case .finished:
            break
        }
        return []
    }

    private mutating func noteFailure(_ at: Double) {
        if timeline.firstFailedProbe == nil { timeline.firstFailedProbe = at }
    }

    private mutating func verified(at: Double) -> [Output] {
        timeline.verified = at
        phase = .recovering(streak: 0, streakStart: nil)
        return config.hasRecoveryAction ? [.runAction(.recovery)] : []
    }

    /// Recovered (and settled) or timed out: stop the load, read the canary back.
    private mutating func afterRecovery(at: Double) -> [Output] {
        var out: [Output] = []
        if backgroundRunning {
            backgroundRunning = false
            out.append(.stopBackground)
        }
        if config.hasCanary {
            phase = .readingBack
            return out + [.readCanary]
        }
        return out + rollback(at: at)
    }

    private mutating func end(_ ending: Ending, at: Double) -> [Output] {
        self.ending = ending
        var out: [Output] = []
        if backgroundRunning {
            backgroundRunning = false
            out.append(.stopBackground)
        }
        return out + rollback(at: at)
    }

    private mutating func rollback(at: Double?) -> [Output] {
        if ending == nil { ending = .completed }
        guard config.hasRollback else { return finish(at: at) }
        phase = .rollingBack
        return [.runAction(.rollback)]
    }

    private mutating func finish(at: Double?) -> [Output] {
        timeline.finished = at
        phase = .finished
        return [.finish]
    }

    private mutating func interrupt(at: Double) -> [Output] {
        switch phase {
        case .finished: return []
        case .rollingBack:
            ending = .interrupted
            return []  // the rollback is already running; it is never cut short by a signal
        default: return end(.interrupted, at: at)
        }
    }
}
