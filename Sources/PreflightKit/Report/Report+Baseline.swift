import Foundation
import Histogram
import PreflightCore

/// `report.json`'s `comparison{}`: a run judged against a baseline (`run --baseline`), kept with the report so its
/// HTML shows both side by side — the limits' table and the two latency distributions overlaid — from the report
/// alone.
public struct ComparisonSection: Codable, Sendable, Equatable {
    public var baselineRunId: String
    /// The baseline as given (a report, a run folder) or found (`latest-pass`, `marked`).
    public var baselinePath: String
    public var baselineStartedAt: Date
    public var rows: [Row]
    /// The baseline's latency by percentile over all requests, corrected: `[x, ms]` with x in decades of
    /// 1/(1−p) (0 = p0, 2 = p99, 3 = p99.9), as the distribution chart draws it.
    public var baselineCurve: [[Double]]

    public struct Row: Codable, Sendable, Equatable {
        /// `regression{METRIC:AGG}`.
        public var name: String
        public var baseline: Double?
        public var new: Double?
        /// Signed so that positive is worse (what the limit is compared with).
        public var changePercent: Double?
        /// (new − baseline) / baseline in percent with its own sign, and whether that is `worse`, `better` or
        /// `same` for this metric.
        public var signedChangePercent: Double?
        public var direction: String?
        public var limitPercent: Double
        /// `ok`, `regression`, `not judged: …`, `within precision` or `within noise`.
        public var outcome: String
    }

    public init(rows: [ReportComparison.Row], baseline: Report, path: String) {
        baselineRunId = baseline.run.id
        baselinePath = path
        baselineStartedAt = baseline.run.startedAt
        self.rows = rows.map { r in
            let outcome =
                switch r.outcome {
                case .ok: "ok"
                case .regression: "regression"
                case .notJudged(let why): "not judged: \(why)"
                case .withinPrecision: "within precision"
                case .withinNoise: "within noise"
                }
            return Row(
                name: r.name,
                baseline: r.baseline,
                new: r.new,
                changePercent: r.changePercent,
                signedChangePercent: r.signedChangePercent.flatMap { $0.isFinite ? ($0 * 100).rounded() / 100 : nil },
                direction: r.direction,
                limitPercent: r.limitPercent,
                outcome: outcome
            )
        }
        let all = baseline.allLatency()
        baselineCurve = all.totalCount > 0 ? HTMLReport.percentilePoints(all).map { [$0.x, $0.y] } : []
    }
}

extension Report {
    /// Every request's latency in one histogram, added from the stored ones: corrected for coordinated omission
    /// (from each iteration's intended start), or as sent.
    func allLatency(corrected: Bool = true) -> LatencyHistogram {
        var all = LatencyHistogram.latency()
        for byStatus in histograms.values {
            for pair in byStatus.values { all.add((corrected ? pair.corrected : pair.uncorrected).decode()) }
        }
        return all
    }
}

/// The baseline marked for each scenario in a reports folder (`preflight report RUN --mark-baseline`), in
/// `baselines.json` beside `index.html`: scenario SHA-256 → run folder.
public enum BaselineMarks {
    public static let fileName = "baselines.json"

    public struct Mark: Codable, Sendable, Equatable {
        public var scenario: String
        public var folder: String
        public var markedAt: Date
    }

    /// The marks in `root`, by scenario SHA-256 (none when the file is missing or unreadable).
    public static func load(root: URL) -> [String: Mark] {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(fileName).path) else {
            return [:]
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return (try? decoder.decode([String: Mark].self, from: data)) ?? [:]
    }

    /// Marks `folder` (a run folder under `root`) as the baseline of its scenario; replaces an earlier mark.
    public static func mark(folder: String, report: Report, root: URL) throws {
        var marks = load(root: root)
        marks[report.scenario.sha256] = Mark(scenario: report.scenario.name, folder: folder, markedAt: Date())
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try ReportWriter.writeAtomically(try encoder.encode(marks), to: root.appendingPathComponent(fileName))
    }
}
