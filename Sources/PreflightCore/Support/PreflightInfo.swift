/// The harness's name and version, for reports and the User-Agent.
public enum PreflightInfo {
    public static let name = "preflight"
    public static let version = "0.1.0"
    /// The largest seed: 2⁵³ − 1, so `run.seed` survives any JSON reader that uses doubles (`jq`), and
    /// `--seed $(jq .run.seed report.json)` replays exactly.
    public static let maxSeed: UInt64 = (1 << 53) - 1
}
