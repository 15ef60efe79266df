import Foundation
import PreflightCore

/// `preflight report <report.json|run folder> [--out DIR]`: re-renders HTML, JUnit and Markdown from a stored report.
public struct ReportCommand: Sendable {
    public var path: String
    /// Where to write; by default the report's own folder, whose parent's `index.html` is then refreshed.
    public var outDirectory: String?
    public var console: Console

    public init(path: String, outDirectory: String?, console: Console = .standard) {
        self.path = path
        self.outDirectory = outDirectory
        self.console = console
    }

    public func run() -> ExitStatus {
        let file: URL
        let report: Report
        do {
            let loaded = try ReportReader.load(path)
            file = URL(fileURLWithPath: loaded.file)
            report = loaded.report
        } catch {
            console.err("\(error)")
            return .usage
        }
        let folder = outDirectory.map { URL(fileURLWithPath: $0) } ?? file.deletingLastPathComponent()
        do {
            try ReportWriter.writeRendered(report, to: folder)
            if outDirectory == nil { try RunIndex.write(root: folder.deletingLastPathComponent()) }
        } catch {
            console.err("\(path): cannot write the rendered reports: \(error)")
            return .internalError
        }
        let files = ReportWriter.formats.map { $0.fileName }.joined(separator: ", ")
        console.out("wrote \(folder.path)/\(files) (verdict \(report.verdict.word))")
        return .pass
    }

    /// Marks the run at `path` (its report.json or its folder) as the baseline of its scenario in the reports folder
    /// that holds it, and refreshes that folder's `index.html`.
    public static func markBaseline(_ path: String, console: Console) -> ExitStatus {
        var folder = URL(fileURLWithPath: path).standardizedFileURL
        if folder.lastPathComponent == "report.json" { folder.deleteLastPathComponent() }
        let report: Report
        do {
            report = try ReportReader.load(folder.path).report
        } catch {
            console.err("\(path): \(error)")
            return .usage
        }
        guard report.drill == nil, report.run.segment == nil else {
            console.err("\(path): only a whole load run can be a baseline (this is a drill or one segment of a run)")
            return .usage
        }
        if report.verdict != .pass {
            console.err("note: \(path) did not pass (\(report.verdict.word)); marked as asked")
        }
        let root = folder.deletingLastPathComponent()
        do {
            try BaselineMarks.mark(folder: folder.lastPathComponent, report: report, root: root)
            try RunIndex.write(root: root)
        } catch {
            console.err("\(root.path): cannot write \(BaselineMarks.fileName): \(error)")
            return .internalError
        }
        console.out(
            "marked \(folder.lastPathComponent) as the baseline of \(report.scenario.name) in \(root.path)/\(BaselineMarks.fileName)"
        )
        return .pass
    }
}
