import PreflightCore

/// The one rule every verdict follows: `run`, `merge`, `drill` and `compare` each say what they found, and this
/// decides (SPEC §9).
///
/// A report that cannot describe the target — interrupted, answered by a mock the user did not allow, an invalid
/// drill, segments missing — is inconclusive whatever it measured; then any failure fails it; then a gate that
/// judged nothing (every threshold skipped) is inconclusive, never a pass; only then does it pass. The first
/// reason of the deciding kind is the verdict's reason.
public struct VerdictRule: Sendable {
    /// Why nothing can be concluded, most important first.
    public var inconclusive: [String] = []
    /// Why it failed, the one to show first.
    public var failures: [String] = []
    /// The thresholds as judged: when every one of them was skipped, nothing was judged.
    public var thresholds: [ThresholdResult] = []

    public init(inconclusive: [String?] = [], failures: [String?] = [], thresholds: [ThresholdResult] = []) {
        self.inconclusive = inconclusive.compactMap { $0 }
        self.failures = failures.compactMap { $0 }
        self.thresholds = thresholds
    }

    /// The verdict and its reason; `passed` words a pass.
    public func decide(passed: () -> String) -> (verdict: Verdict, reason: String) {
        if let why = inconclusive.first { return (.inconclusive, why) }
        if let why = failures.first { return (.fail, why) }
        if let first = thresholds.first?.skipped, thresholds.allSatisfy({ $0.skipped != nil }) {
            return (.inconclusive, "every threshold was skipped (\(first)); nothing was judged")
        }
        return (.pass, passed())
    }

    /// A failure found after the verdict was decided (`compare`'s regression limits): it fails a pass, and leaves
    /// a failed or inconclusive verdict and its reason as they were.
    public static func adding(
        failure: String,
        to decided: (verdict: Verdict, reason: String)
    ) -> (verdict: Verdict, reason: String) {
        decided.verdict == .pass ? (.fail, failure) : decided
    }
}
