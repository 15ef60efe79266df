import Foundation
import PreflightCore

/// Reads `report.json` files, refusing versions this build does not understand.
public enum ReportReader {
    public struct VersionError: Error, CustomStringConvertible {
        public var found: String
        public var description: String {
            "this report is \(found), written by a newer or different Preflight; this version reads \(Report.schemaID)"
        }
    }

    /// A `report.json`, or a run folder holding one: the file read and the report, or an error naming the file.
    public static func load(_ path: String) throws(LoadError) -> (file: String, report: Report) {
        var isDirectory: ObjCBool = false
        let file =
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? URL(fileURLWithPath: path).appendingPathComponent("report.json").path : path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LoadError(description: "\(file): cannot read the file")
        }
        do {
            return (file, try decode(data))
        } catch {
            throw LoadError(description: "\(file): \(error)")
        }
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func decode(_ data: Data) throws -> Report {
        let doc = try JSONValue.parse(data)
        guard case .string(let schema)? = doc["schema"] else {
            throw VersionError(found: "without a schema field")
        }
        guard schema == Report.schemaID else { throw VersionError(found: schema) }
        return try ReportWriter.decoder().decode(Report.self, from: data)
    }
}
