import Foundation

/// `preflight report <report.json> [--out DIR]`: re-renders HTML, JUnit and Markdown from a stored report.
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
        let file = URL(fileURLWithPath: path)
        guard let data = FileManager.default.contents(atPath: file.path) else {
            console.err("\(path): cannot read the file")
            return .usage
        }
        let report: Report
        do {
            report = try ReportReader.decode(data)
        } catch {
            console.err("\(path): \(error)")
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
        console.out("wrote \(folder.path)/report.html, junit.xml, summary.md (verdict \(report.verdict.word))")
        return .pass
    }
}
