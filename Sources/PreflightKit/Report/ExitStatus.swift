/// Exit codes of SPEC §3.
public enum ExitStatus: Int32, Sendable {
    case pass = 0
    case internalError = 1
    case usage = 2
    case inconclusive = 3
    case thresholdsFailed = 99
    case interrupted = 130
}
