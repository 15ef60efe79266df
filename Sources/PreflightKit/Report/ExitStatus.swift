import PreflightCore

/// Exit codes of SPEC §3.
public enum ExitStatus: Int32, Sendable {
    case pass = 0
    case internalError = 1
    case usage = 2
    case inconclusive = 3
    case thresholdsFailed = 99
    case interrupted = 130
}

extension ExitStatus {
    /// The status of a batch: interrupted beats internal error beats usage beats failed thresholds beats
    /// inconclusive beats pass.
    public static func worst(_ statuses: [ExitStatus]) -> ExitStatus {
        let order: [ExitStatus] = [.interrupted, .internalError, .usage, .thresholdsFailed, .inconclusive, .pass]
        return order.first { statuses.contains($0) } ?? .pass
    }
}
