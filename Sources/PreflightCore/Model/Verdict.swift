/// What a run or drill concluded (`report.json` `verdict`; SPEC §9).
public enum Verdict: String, Codable, Sendable, CaseIterable {
    /// Every threshold held, against the real target (or a mock the user allowed).
    case pass
    /// A threshold failed.
    case fail
    /// Nothing can be concluded: interrupted, an unallowed mock answered, or an invalid drill.
    case inconclusive

    /// The word as reports print it: `PASS`, `FAIL`, `INCONCLUSIVE`.
    public var word: String { rawValue.uppercased() }
}

/// Which transport carried a run's requests (`report.json` `transport.mode`).
public enum TransportMode: String, Codable, Sendable {
    /// The target itself.
    case real
    /// The latency-simulating mock: results do not describe the target.
    case mock

    /// The word as reports print it: `REAL`, `MOCK`.
    public var word: String { rawValue.uppercased() }
}
