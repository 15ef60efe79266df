import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Every phase and timeout of a drill with a synthetic clock, in milliseconds; no I/O.
struct DrillStateMachineTests {
    typealias M = DrillStateMachine

    static func config(
        verifyWithin: Double? = 2,
        recoveryAction: Bool = true,
        canary: Bool = true,
        rollback: Bool = true,
        settle: Double = 0
    ) -> M.Config {
        M.Config(
            mustHoldFor: 1,
            steadyTimeout: 10,
            faultAfter: 2,
            verifyWithin: verifyWithin,
            consecutiveSuccesses: 3,
            recoveryTimeout: 5,
            settle: settle,
            hasRecoveryAction: recoveryAction,
            hasCanary: canary,
            hasRollback: rollback
        )
    }

    /// Drives probes every 100 ms from `from` to `to` (exclusive) with the given outcome, ticking as it goes.
    static func probes(_ m: inout M, from: Double, to: Double, ok: Bool) -> [M.Output] {
        var out: [M.Output] = []
        var i = (from * 10).rounded()
        while i / 10 < to - 1e-9 {
            // Whole tenths, so 10 × 0.1 is exactly 1.
            out += m.handle(.probe(ok: ok, at: i / 10))
            out += m.handle(.tick(at: i / 10))
            i += 1
        }
        return out
    }

    /// A machine that has reached the fault action at t = 3.0 s (steady held at 1.0 s, fault after 2 s).
    static func faulting(_ config: M.Config = config()) -> M {
        var m = M(config: config)
        _ = probes(&m, from: 0, to: 3.05, ok: true)
        return m
    }

    @Test func theSteadyStateMustHoldWithoutABreakBeforeTheLoadStarts() {
        var m = M(config: Self.config())
        #expect(Self.probes(&m, from: 0, to: 0.6, ok: true).isEmpty)
        _ = m.handle(.probe(ok: false, at: 0.6))  // a failure restarts the hold
        #expect(Self.probes(&m, from: 0.7, to: 1.7, ok: true).isEmpty)
        #expect(m.handle(.probe(ok: true, at: 1.7)) == [.startBackground])
        #expect(m.timeline.steadyHeld == 1.7)
        #expect(m.phase == .loaded(since: 1.7))
    }

    @Test func aSteadyStateThatNeverHoldsMakesTheDrillInvalidAndStillRollsBack() {
        var m = M(config: Self.config())
        var out: [M.Output] = []
        for i in 0...100 {
            let t = Double(i) / 10
            out += m.handle(.probe(ok: i % 5 != 4, at: t))  // a failure every 500 ms
            out += m.handle(.tick(at: t))
        }
        #expect(out == [.runAction(.rollback)])
        guard case .invalid(let why)? = m.ending else {
            Issue.record("expected invalid, got \(String(describing: m.ending))")
            return
        }
        #expect(why.contains("steady state never held"))
        #expect(m.handle(.actionFinished(.rollback, succeeded: true, at: 10.2)) == [.finish])
        #expect(m.phase == .finished)
    }

    @Test func theFaultRunsAfterItsDelayFromTheLoadStart() {
        var m = M(config: Self.config())
        _ = Self.probes(&m, from: 0, to: 1.05, ok: true)  // load started at 1.0
        #expect(m.handle(.tick(at: 2.9)).isEmpty)
        #expect(m.handle(.tick(at: 3.0)) == [.runAction(.fault)])
        #expect(m.timeline.faultStarted == 3.0)
    }

    @Test func rtoRunsFromTheFaultsCompletionToTheFirstOfNConsecutiveSuccesses() {
        var m = Self.faulting()
        #expect(m.handle(.actionFinished(.fault, succeeded: true, at: 3.2)).isEmpty)
        #expect(m.handle(.probe(ok: true, at: 3.3)).isEmpty)
        #expect(m.handle(.probe(ok: false, at: 3.4)) == [.runAction(.recovery)])  // verified by the failure
        #expect(m.timeline.verified == 3.4)
        _ = Self.probes(&m, from: 3.5, to: 5.0, ok: false)
        // A success streak broken after two, then three in a row from 5.3.
        _ = m.handle(.probe(ok: true, at: 5.0))
        _ = m.handle(.probe(ok: true, at: 5.1))
        _ = m.handle(.probe(ok: false, at: 5.2))
        _ = m.handle(.probe(ok: true, at: 5.3))
        _ = m.handle(.probe(ok: true, at: 5.4))
        #expect(m.handle(.probe(ok: true, at: 5.5)).isEmpty)  // settle 0: waits for the next tick
        #expect(m.timeline.recovered == 5.3)
        #expect(abs(m.rto! - 2.1) < 1e-9)
        #expect(abs(m.detection! - 0.2) < 1e-9)
        #expect(abs(m.timeToFirstSuccess! - 1.8) < 1e-9)
        #expect(m.handle(.tick(at: 5.55)) == [.stopBackground, .readCanary])
        #expect(m.handle(.canaryRead(ok: true, at: 5.8)) == [.runAction(.rollback)])
        #expect(m.handle(.actionFinished(.rollback, succeeded: true, at: 5.9)) == [.finish])
        #expect(m.ending == .completed)
        #expect(m.timeline.finished == 5.9)
    }

    @Test func detectionIsZeroWhenProbesFailedWhileTheFaultActionRan() {
        var m = Self.faulting()
        _ = m.handle(.probe(ok: false, at: 3.1))
        #expect(m.handle(.actionFinished(.fault, succeeded: true, at: 3.5)) == [.runAction(.recovery)])
        #expect(m.detection == 0)
    }

    @Test func aFaultThatBreaksNothingIsInvalidAfterVerifyWithin() {
        var m = Self.faulting()
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.2))
        #expect(m.phase == .verifying(deadline: 5.2))
        var out = Self.probes(&m, from: 3.3, to: 5.2, ok: true)
        #expect(out.isEmpty)
        out = m.handle(.tick(at: 5.2))
        #expect(out == [.stopBackground, .runAction(.rollback)])
        guard case .invalid(let why)? = m.ending else {
            Issue.record("expected invalid")
            return
        }
        #expect(why.contains("could not be verified"))
    }

    @Test func aFailingFaultActionIsInvalid() {
        var m = Self.faulting()
        #expect(
            m.handle(.actionFinished(.fault, succeeded: false, at: 3.1)) == [.stopBackground, .runAction(.rollback)]
        )
        #expect(m.ending == .invalid("the fault action failed, so nothing was broken"))
    }

    @Test func aVerifyCommandDecidesWhenGiven() {
        var ok = Self.faulting(Self.config(verifyWithin: nil))
        #expect(ok.handle(.actionFinished(.fault, succeeded: true, at: 3.1)) == [.runAction(.verify)])
        #expect(ok.handle(.actionFinished(.verify, succeeded: true, at: 3.3)) == [.runAction(.recovery)])
        var bad = Self.faulting(Self.config(verifyWithin: nil))
        _ = bad.handle(.actionFinished(.fault, succeeded: true, at: 3.1))
        #expect(
            bad.handle(.actionFinished(.verify, succeeded: false, at: 3.3)) == [.stopBackground, .runAction(.rollback)]
        )
        #expect(bad.ending != .completed)
    }

    @Test func aRecoveryThatNeverComesEndsAtTheTimeoutWithoutAnRTO() {
        var m = Self.faulting(Self.config(recoveryAction: false))
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.0))
        #expect(m.handle(.probe(ok: false, at: 3.1)).isEmpty)  // no recovery action configured
        var out = Self.probes(&m, from: 3.2, to: 7.95, ok: false)
        #expect(out.isEmpty)
        out = m.handle(.tick(at: 8.0))
        #expect(out == [.stopBackground, .readCanary])
        #expect(m.timeline.recoveryTimedOut == 8.0)
        #expect(m.rto == nil)
        _ = m.handle(.canaryRead(ok: true, at: 8.2))
        _ = m.handle(.actionFinished(.rollback, succeeded: true, at: 8.3))
        #expect(m.ending == .completed)  // completed, and the RTO objective fails for want of an RTO
    }

    /// The runner ticks the machine at `nextDeadline` instead of every 50 ms (#26, item 2): every phase whose tick
    /// matters names when, and a tick at that time moves it on.
    @Test func eachPhaseNamesTheDeadlineItsTickWaitsFor() {
        var m = M(config: Self.config(recoveryAction: false, settle: 2))
        #expect(m.nextDeadline == 10, "the steady state's timeout")
        _ = Self.probes(&m, from: 0, to: 1.05, ok: true)
        guard case .loaded(let since) = m.phase else {
            Issue.record("expected loaded, got \(m.phase)")
            return
        }
        #expect(m.nextDeadline == since + 2, "the fault's start")
        #expect(m.handle(.tick(at: since + 2)) == [.runAction(.fault)])
        #expect(m.nextDeadline == nil, "the fault action's end moves it on")
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.5))
        #expect(m.nextDeadline == 5.5, "the verification deadline: verifyWithin after the fault")
        _ = m.handle(.probe(ok: false, at: 3.6))
        #expect(m.nextDeadline == 3.5 + 5, "the recovery timeout")
        _ = Self.probes(&m, from: 3.7, to: 4.0, ok: true)
        guard case .settling(let until) = m.phase else {
            Issue.record("expected settling, got \(m.phase)")
            return
        }
        #expect(m.nextDeadline == until)
        #expect(m.handle(.tick(at: until)) == [.stopBackground, .readCanary])
        #expect(m.nextDeadline == nil)
    }

    @Test func settlingKeepsTheLoadRunningForTheSLOWindow() {
        var m = Self.faulting(Self.config(settle: 2))
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.0))
        _ = m.handle(.probe(ok: false, at: 3.1))
        _ = Self.probes(&m, from: 3.2, to: 3.5, ok: true)
        #expect(m.phase == .settling(until: 5.4))
        #expect(m.handle(.tick(at: 5.3)).isEmpty)
        #expect(m.handle(.tick(at: 5.4)) == [.stopBackground, .readCanary])
    }

    /// #32, item 2: what cannot be read back is not shown to be intact; the drill completes (and its RPO and
    /// lost-writes objectives fail for want of data), it is not "invalid" — invalid is for a drill that proved nothing.
    @Test func aCanaryThatCannotBeReadBackCompletesTheDrillUnmeasured() {
        var m = Self.faulting()
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.0))
        _ = m.handle(.probe(ok: false, at: 3.1))
        _ = Self.probes(&m, from: 3.2, to: 3.55, ok: true)
        #expect(m.phase == .readingBack)
        #expect(m.handle(.canaryRead(ok: false, at: 9)) == [.runAction(.rollback)])
        #expect(m.canaryUnreadable)
        #expect(!m.neverRecovered)
        _ = m.handle(.actionFinished(.rollback, succeeded: true, at: 9.1))
        #expect(m.ending == .completed)
    }

    @Test func aServiceThatNeverRecoversCompletesTheDrillAsNeverRecovered() {
        var m = Self.faulting(Self.config(recoveryAction: false))
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.0))
        _ = Self.probes(&m, from: 3.1, to: 7.95, ok: false)
        #expect(m.handle(.tick(at: 8.0)) == [.stopBackground, .readCanary])
        #expect(m.neverRecovered)
        _ = m.handle(.canaryRead(ok: false, at: 8.2))
        _ = m.handle(.actionFinished(.rollback, succeeded: true, at: 8.3))
        #expect(m.ending == .completed)
        #expect(m.canaryUnreadable)
    }

    @Test func withoutCanaryOrRollbackTheDrillFinishesRightAfterRecovery() {
        var m = Self.faulting(Self.config(canary: false, rollback: false))
        _ = m.handle(.actionFinished(.fault, succeeded: true, at: 3.0))
        _ = m.handle(.probe(ok: false, at: 3.1))
        #expect(Self.probes(&m, from: 3.2, to: 3.5, ok: true) == [.stopBackground, .finish])
        #expect(m.phase == .finished)
    }

    @Test func aSignalInAnyPhaseStopsTheLoadAndRollsBackAndTheRollbackIsNeverCutShort() {
        var m = Self.faulting()
        #expect(m.handle(.interrupted(at: 3.1)) == [.stopBackground, .runAction(.rollback)])
        #expect(m.ending == .interrupted)
        #expect(m.handle(.interrupted(at: 3.2)).isEmpty)
        #expect(m.handle(.actionFinished(.fault, succeeded: true, at: 3.3)).isEmpty)  // ignored while rolling back
        #expect(m.handle(.actionFinished(.rollback, succeeded: true, at: 3.4)) == [.finish])
        var early = M(config: Self.config())
        #expect(early.handle(.interrupted(at: 0.1)) == [.runAction(.rollback)])  // nothing was started yet
    }
}

struct CanaryAnalysisTests {
    static func log(_ seqs: ClosedRange<Int>, every: Double = 0.1, failing: Set<Int> = []) -> [CanaryEntry] {
        seqs.map { s in
            let t = Double(s) * every
            return failing.contains(s)
                ? CanaryEntry(seq: s, sent: t, answered: t + 0.01, status: 0, error: "connect")
                : CanaryEntry(seq: s, sent: t, answered: t + 0.01, status: 201)
        }
    }

    @Test func nothingLostMeansRPOZero() {
        let s = CanarySummary.analyze(log: Self.log(1...50), readBack: Array(1...50), faultAt: 3)
        #expect(s.lostWrites == 0)
        #expect(s.rpoSeconds == 0)
        #expect(s.acknowledged == 50)
        #expect(s.lastAcknowledgedBeforeFault == 29)
    }

    @Test func rpoIsTheWindowFromTheLastSurvivorToTheLastLostAcknowledgedWrite() {
        // Writes 1…30 acknowledged; the server lost 26…30 (buffered, then killed); 31…35 failed during the outage.
        let log = Self.log(1...40, failing: Set(31...35))
        let readBack = Array(1...25) + Array(36...40)
        let s = CanarySummary.analyze(log: log, readBack: readBack, faultAt: 3.05)
        #expect(s.lostWrites == 5)
        #expect(s.lostSeqs == [26, 27, 28, 29, 30])
        #expect(abs(s.rpoSeconds - 0.5) < 1e-9)  // 2.51 (seq 25) → 3.01 (seq 30)
        #expect(s.written == 40)
        #expect(s.acknowledged == 35)
    }

    @Test func duplicatesReorderingAndUnacknowledgedButStoredWritesAreCountedNotLost() {
        let log = Self.log(1...10, failing: [5])
        let readBack = [1, 2, 3, 5, 4, 6, 7, 7, 8, 9, 10]
        let s = CanarySummary.analyze(log: log, readBack: readBack, faultAt: nil)
        #expect(s.lostWrites == 0)
        #expect(s.duplicates == 1)
        #expect(s.outOfOrder == 1)
        #expect(s.presentUnacknowledged == 1)
    }

    @Test func theLogSurvivesAPartialLastLine() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("canary-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: url) }
        let log = try CanaryLog(url: url)
        for e in Self.log(1...3) { log.append(e) }
        log.close()
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":4,"sent":0.4,"answ"#.utf8))
        try handle.close()
        #expect(CanaryLog.read(url).map(\.seq) == [1, 2, 3])
    }
}

struct DrillLoaderTests {
    static let valid = """
        { "kind": "drill", "name": "d", "target": { "baseURL": "http://127.0.0.1:9" },
          "steadyState": { "probe": { "path": "/readyz" }, "interval": "200ms", "mustHoldFor": "1s" },
          "canary": { "write": { "path": "/c", "body": { "seq": "{{seq}}", "at": "{{now}}" } },
                      "read": { "path": "/c?from={{firstSeq}}" } },
          "fault": { "after": "1s", "action": { "run": ["sh", "-c", "true"] } },
          "recovery": { "healthy": { "consecutiveSuccesses": 2 }, "timeout": "5s" },
          "objectives": { "rto": "<30s", "rpo": "<=500ms", "lostWrites": "==0" } }
        """

    func load(_ json: String) throws(ScenarioError) -> Drill {
        try DrillLoader(environment: ["PATH": "/usr/bin:/bin"])
            .load(data: Data(json.utf8), file: "d.json", baseDirectory: URL(fileURLWithPath: "/tmp"))
    }

    @Test func aValidDrillLoadsWithItsObjectivesInSeconds() throws {
        let d = try load(Self.valid)
        #expect(d.objectives.map(\.kind) == [.rto, .rpo, .lostWrites])
        #expect(d.objectives.map(\.bound) == [30, 0.5, 0])
        #expect(d.steadyState.probe.timeout == 0.2)
        #expect(d.canary?.write.method == "POST")
        guard case .probeFails = d.fault.verify else {
            Issue.record("probe-fails is the default verification")
            return
        }
    }

    @Test func everyProblemIsReportedAtOnceWithItsPath() {
        let json = """
            { "kind": "drill", "name": "d", "target": { "baseURL": "http://127.0.0.1:9" },
              "steadyState": { "probe": { "path": "/readyz", "timeout": "2s" }, "interval": "200ms" },
              "fault": { "action": { "run": ["no-such-program-xyz", "-x"] }, "verify": "probes-fail" },
              "recovery": { "healthy": { "consecutiveSucesses": 2 } },
              "background": { "requests": [ { "name": "a", "path": "/a" } ], "load": { "executor": "constant-arrival-rate", "rate": -5, "duration": "1s" } },
              "objectives": { "rto": "30s", "rpo": "<1s", "lostWrites": "==x" } }
            """
        let error = try? #require(throws: ScenarioError.self) { _ = try load(json) }
        let paths = Set(error?.problems.map(\.path) ?? [])
        #expect(
            paths.isSuperset(of: [
                "$.steadyState.probe.timeout", "$.fault.action.run[0]", "$.fault.verify",
                "$.recovery.healthy.consecutiveSucesses", "$.background.load.rate", "$.objectives.rto",
                "$.objectives.rpo", "$.objectives.lostWrites",
            ]),
            "\(error?.description ?? "")"
        )
        let program = error?.problems.first { $0.path == "$.fault.action.run[0]" }
        #expect(program?.message.contains("not on PATH") == true)
        let rpo = error?.problems.first { $0.path == "$.objectives.rpo" }
        #expect(rpo?.message.contains("canary") == true)
    }

    @Test func aLoadScenarioIsNotADrillAndADrillIsNotALoadScenario() {
        #expect(throws: ScenarioError.self) { _ = try load(#"{ "kind": "load", "name": "x" }"#) }
        #expect(throws: ScenarioError.self) {
            _ = try ScenarioLoader(environment: [:])
                .load(data: Data(Self.valid.utf8), file: "d.json", baseDirectory: URL(fileURLWithPath: "/tmp"))
        }
    }

    @Test func theShippedDrillValidates() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scenarios/rto_rpo_recovery.json")
        let d = try DrillLoader().load(file: file.path)
        #expect(Set(d.objectives.map(\.kind)) == [.rto, .rpo, .lostWrites, .detection])
        #expect(d.background != nil && d.canary != nil && d.rollback != nil)
    }

    @Test func sloRecoveryIsTheFirstWindowBackWithinTheBaseline() {
        // Buckets of 1 s from the load start (offset 1 s on the drill axis); the fault at 5..6 s.
        var points: [TimePoint] = []
        for t in 1...20 {
            let broken = (5...9).contains(t)
            points.append(
                TimePoint(
                    t: Double(t),
                    requests: 20,
                    errors: broken ? 10 : 0,
                    p50: 1,
                    p95: broken ? 50 : 2,
                    p99: 3,
                    vus: 1
                )
            )
        }
        let s = Drill.sloRecovered(
            timeseries: points,
            bucketSeconds: 1,
            offset: 1,
            faultStarted: 5,
            faultCompleted: 6,
            slo: .init(tolerance: 1.5, window: 3)
        )
        // Bucket t=10 covers [10, 11) on the drill axis: the first good one after the fault's completion at 6.
        #expect(s == 4)
    }
}
