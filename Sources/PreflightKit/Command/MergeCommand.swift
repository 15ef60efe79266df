import Foundation
import PreflightCore

/// `preflight merge <report.json|folder>... --out DIR [--allow-partial]`: one report from the shards of a
/// distributed run, rendered in every format; the exit code is the merged verdict's.
public struct MergeCommand: Sendable {
    public var paths: [String]
    public var outDirectory: String
    public var allowPartial: Bool
    public var console: Console

    public init(paths: [String], outDirectory: String, allowPartial: Bool = false, console: Console = .standard) {
        self.paths = paths
        self.outDirectory = outDirectory
        self.allowPartial = allowPartial
        self.console = console
    }

    public func run() -> ExitStatus {
        var shards: [ReportMerge.Shard] = []
        for path in paths {
            do {
                let (file, report) = try ReportReader.load(path)
                shards.append(ReportMerge.Shard(name: file, report: report))
            } catch {
                console.err("merge: \(error)")
                return .usage
            }
        }
        let report: Report
        do {
            report = try ReportMerge.merge(shards, allowPartial: allowPartial)
        } catch {
            console.err("merge: \(error)")
            return .usage
        }
        let root = URL(fileURLWithPath: outDirectory)
        do {
            let (folder, written) = try ReportWriter(root: root).write(report)
            try RunIndex.write(root: root)
            console.out(TextSummary.render(written, folder: folder.path))
        } catch {
            console.err("merge: cannot write the merged report to \(outDirectory): \(error)")
            return .internalError
        }
        return report.exitStatus
    }
}
