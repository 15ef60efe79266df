import Foundation
import PreflightCore

/// `preflight compare <baseline> <new> [--max-regression SPEC]... [--min-count N] [--noise-runs R]... [--force]`:
/// prints the comparison; exit 99 when a limit is exceeded, 2 when the reports or options do not fit, 0 otherwise.
public struct CompareCommand: Sendable {
    public var baseline: String
    public var new: String
    public var limits: [String]
    public var minCount = ReportComparison.defaultMinCount
    public var noiseRuns: [String] = []
    public var force = false
    public var console: Console

    public init(baseline: String, new: String, limits: [String], console: Console = .standard) {
        self.baseline = baseline
        self.new = new
        self.limits = limits
        self.console = console
    }

    /// A report.json, or a run folder holding one.
    static func load(_ path: String) throws(ReportComparison.Refusal) -> Report {
        do {
            return try ReportReader.load(path).report
        } catch {
            throw ReportComparison.Refusal(description: error.description)
        }
    }

    public func run() -> ExitStatus {
        do {
            let base = try Self.load(baseline)
            let current = try Self.load(new)
            let noise = try noiseRuns.map { path throws(ReportComparison.Refusal) in try Self.load(path) }
            let names = Set(base.requests.map(\.name))
            let parsed = try limits.map { text throws(ReportComparison.Refusal) in
                try ReportComparison.Limit.parse(text, requestNames: names).get()
            }
            let rows = try ReportComparison.compare(
                baseline: base,
                new: current,
                limits: parsed,
                minCount: minCount,
                noiseRuns: noise,
                force: force
            )
            console.out(ReportComparison.table(rows, baseline: base, new: current))
            return rows.contains(where: \.failed) ? .thresholdsFailed : .pass
        } catch {
            console.err("compare: \(error)")
            return .usage
        }
    }
}
