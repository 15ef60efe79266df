import Foundation

/// Writes report folders: `reports/<scenario>-<UTC timestamp>/report.json`, every file atomically.
public struct ReportWriter: Sendable {
    public var root: URL

    public init(root: URL) { self.root = root }

    /// `cached-symbol-20261129T110502Z`.
    public static func folderName(scenario: String, date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(scenario)-\(f.string(from: date))"
    }

    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            try c.encode(f.string(from: date))
        }
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let s = try decoder.singleValueContainer().decode(String.self)
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = f.date(from: s) { return date }
            f.formatOptions = [.withInternetDateTime]
            guard let date = f.date(from: s) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "bad date \(s)")
                )
            }
            return date
        }
        return d
    }

    /// Creates a fresh folder for the run and writes `report.json` into it; returns the folder.
    public func write(_ report: Report) throws -> URL {
        let folder = try makeFolder(scenario: report.scenario.name, date: report.run.startedAt)
        try write(report, to: folder)
        return folder
    }

    /// A new, empty run folder `<scenario>-<UTC timestamp>` (with `-2`, `-3`… when the name is taken).
    public func makeFolder(scenario: String, date: Date) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let base = Self.folderName(scenario: scenario, date: date)
        var folder = root.appendingPathComponent(base)
        var n = 2
        while fm.fileExists(atPath: folder.path) {
            folder = root.appendingPathComponent("\(base)-\(n)")
            n += 1
        }
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Writes `report.json` and the rendered files into an existing folder (a drill's, which holds its logs).
    public func write(_ report: Report, to folder: URL) throws {
        try Self.writeAtomically(Self.encoder().encode(report), to: folder.appendingPathComponent("report.json"))
        try Self.writeRendered(report, to: folder)
    }

    /// `report.html`, `junit.xml` and `summary.md`, each written atomically.
    public static func writeRendered(_ report: Report, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try writeAtomically(Data(HTMLReport.render(report).utf8), to: folder.appendingPathComponent("report.html"))
        try writeAtomically(Data(JUnitReport.render(report).utf8), to: folder.appendingPathComponent("junit.xml"))
        try writeAtomically(Data(MarkdownSummary.render(report).utf8), to: folder.appendingPathComponent("summary.md"))
    }

    /// Writes to a temporary file in the same folder, then renames it over the target.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        try data.write(to: url, options: .atomic)
    }
}
