import PreflightCore

/// A file rendered from a finished report beside report.json (HTML, JUnit, Markdown). It reads only the report —
/// already masked of secrets — so a format can show nothing report.json does not; `ReportWriter.formats` lists
/// every one.
public protocol ReportFormat: Sendable {
    /// The file's name in the run folder.
    static var fileName: String { get }
    /// The whole file, from the report alone.
    static func render(_ report: Report) -> String
}
