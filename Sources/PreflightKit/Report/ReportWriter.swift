import Foundation
import PreflightCore

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

    /// Creates a fresh folder for the run and writes `report.json` into it; returns the folder and the report as
    /// written (secrets masked).
    @discardableResult
    public func write(_ report: Report, secrets: Secrets = Secrets()) throws -> (folder: URL, report: Report) {
        let folder = try makeFolder(scenario: report.scenario.name, date: report.run.startedAt)
        let written = try write(report, to: folder, secrets: secrets)
        return (folder, written)
    }

    /// A new, empty run folder `<scenario>-<UTC timestamp>` (with `-2`, `-3`… when the name is taken).
    public func makeFolder(scenario: String, date: Date) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let base = Self.folderName(scenario: scenario, date: date)
        var folder = root.appendingPathComponent(base)
        var n = 2
        // mkdir claims the name atomically: two processes started in the same second (the shards of a segmented
        // run on one machine) get two folders, where checking first and creating after gave both the same one.
        while true {
            if mkdir(folder.path, 0o755) == 0 { return folder }
            guard errno == EEXIST, n < 10_000 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: folder.path])
            }
            folder = root.appendingPathComponent("\(base)-\(n)")
            n += 1
        }
    }

    /// Writes `report.json` and the rendered files into an existing folder (a drill's, which holds its logs), with
    /// every secret masked in every string; returns the report as written.
    ///
    /// The masking works on the encoded JSON's strings (numbers and layout untouched), and the rendered files are
    /// made from that masked document, so HTML, JUnit and summary can not show what report.json does not.
    @discardableResult
    public func write(_ report: Report, to folder: URL, secrets: Secrets = Secrets()) throws -> Report {
        let json = secrets.redact(json: try Self.encoder().encode(report))
        try Self.writeAtomically(json, to: folder.appendingPathComponent("report.json"))
        guard !secrets.isEmpty else {
            try Self.writeRendered(report, to: folder)
            return report
        }
        if let masked = try? Self.decoder().decode(Report.self, from: json) {
            try Self.writeRendered(masked, to: folder)
            return masked
        }
        // A secret equal to a word the report's format spells out ("real", "PASS") breaks the masked document's
        // types; the rendered files are then masked as text.
        try Self.writeRendered(report, to: folder, secrets: secrets)
        return report
    }

    /// Every file rendered beside report.json, in this order. A new format is one type conforming to
    /// ``ReportFormat`` and its line here; `run`, `drill`, `merge` and `report` all write through this list.
    public static let formats: [any ReportFormat.Type] = [HTMLReport.self, JUnitReport.self, MarkdownSummary.self]

    /// Every format of ``formats`` (`report.html`, `junit.xml`, `summary.md`), each written atomically (masked as
    /// text by `secrets`).
    public static func writeRendered(_ report: Report, to folder: URL, secrets: Secrets = Secrets()) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for format in formats {
            let text = format.render(report)
            try writeAtomically(Data(secrets.redact(text).utf8), to: folder.appendingPathComponent(format.fileName))
        }
    }

    /// Masks secrets in a drill's action output (`action-*.log` in the run folder), in place; returns the files
    /// larger than ``maxRedactedLogBytes``, which are left as they are (README "Secrets").
    @discardableResult
    public static func redactLogs(in folder: URL, secrets: Secrets) -> [String] {
        guard !secrets.isEmpty else { return [] }
        var skipped: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names.sorted() where name.hasPrefix("action-") && name.hasSuffix(".log") {
            let path = folder.appendingPathComponent(name).path
            guard let handle = FileHandle(forUpdatingAtPath: path) else { continue }
            defer { try? handle.close() }
            guard let size = try? handle.seekToEnd() else { continue }
            guard size <= maxRedactedLogBytes else {
                skipped.append(name)
                continue
            }
            try? handle.seek(toOffset: 0)
            guard let data = try? handle.readToEnd() else { continue }
            let masked = secrets.redact(bytes: [UInt8](data))
            guard masked.count != data.count || !masked.elementsEqual(data) else { continue }
            // In place, not by rename: a program the drill started may still hold the file open.
            try? handle.truncate(atOffset: 0)
            try? handle.write(contentsOf: masked)
        }
        return skipped
    }

    /// Action logs up to this size are masked; larger ones are left and named.
    public static let maxRedactedLogBytes: UInt64 = 64 << 20

    /// Writes to a temporary file in the same folder, then renames it over the target.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        try data.write(to: url, options: .atomic)
    }
}
