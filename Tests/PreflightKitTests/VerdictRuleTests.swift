import Testing

@testable import PreflightCore
@testable import PreflightKit

/// The one verdict rule that run, merge, drill and compare share.
@Suite struct VerdictRuleTests {
    let passed = ThresholdResult(metric: "http_req_duration", expression: "p(95)<100", observed: 50, ok: true)
    let failed = ThresholdResult(metric: "http_req_failed", expression: "rate<0.01", observed: 0.5, ok: false)
    let skipped = ThresholdResult(
        metric: "server{x}",
        expression: "max==0",
        observed: nil,
        ok: true,
        skipped: "no server"
    )

    @Test func cannotConcludeBeatsFailureBeatsNothingJudgedBeatsPass() {
        let all = VerdictRule(inconclusive: ["interrupted"], failures: ["p95 too high"], thresholds: [skipped])
        #expect(all.decide { "ok" } == (.inconclusive, "interrupted"))
        let failing = VerdictRule(inconclusive: [nil], failures: [nil, "p95 too high"], thresholds: [skipped])
        #expect(failing.decide { "ok" } == (.fail, "p95 too high"))
        let nothing = VerdictRule(thresholds: [skipped, skipped])
        #expect(
            nothing.decide { "ok" } == (.inconclusive, "every threshold was skipped (no server); nothing was judged")
        )
        #expect(VerdictRule(thresholds: [skipped, passed]).decide { "ok" } == (.pass, "ok"))
        #expect(VerdictRule().decide { "no thresholds defined" } == (.pass, "no thresholds defined"))
    }

    @Test func theFirstReasonOfTheDecidingKindIsShown() {
        let rule = VerdictRule(inconclusive: [nil, "mock answered", "segments missing"], failures: ["a", "b"])
        #expect(rule.decide { "ok" }.reason == "mock answered")
    }

    @Test func aFailureFoundLaterFailsAPassAndNothingElse() {
        #expect(VerdictRule.adding(failure: "regressed", to: (.pass, "ok")) == (.fail, "regressed"))
        #expect(VerdictRule.adding(failure: "regressed", to: (.fail, "p95")) == (.fail, "p95"))
        #expect(VerdictRule.adding(failure: "regressed", to: (.inconclusive, "mock")) == (.inconclusive, "mock"))
    }

    @Test func failingThresholdsAreAFailureAndPassingOnesAPassThroughTheSameRule() {
        let thresholds = [passed, failed]
        let (verdict, reason) = VerdictRule(failures: [Report.failureReason(thresholds)], thresholds: thresholds)
            .decide { Report.passReason(thresholds) }
        #expect(verdict == .fail)
        #expect(reason == "1 of 2 thresholds failed, first http_req_failed rate<0.01 (observed 0.5)")
    }
}
