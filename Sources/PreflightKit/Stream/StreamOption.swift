import PreflightCore

/// One `--stream KIND=VALUE` output (k6's `--out KIND=VALUE`; `--out` is the report folder here). Repeatable.
public enum StreamOption: Sendable, Equatable {
    /// `json=FILE`: JSON lines (`JSONStreamSink`).
    case json(path: String)
    /// `prometheus-rw=URL`: Prometheus remote write (`RemoteWriteSink`).
    case prometheusRemoteWrite(url: String)

    /// A `--stream` value that cannot be used, with the fix.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The kinds, as `--stream` names them.
    public static let kinds = ["json=FILE", "prometheus-rw=URL"]

    /// Parses `KIND=VALUE`.
    public static func parse(_ text: String) -> Result<StreamOption, Problem> {
        guard let eq = text.firstIndex(of: "=") else {
            return .failure(Problem(description: "--stream \(text): write it as KIND=VALUE, e.g. json=run.jsonl"))
        }
        let kind = text[..<eq].lowercased()
        let value = String(text[text.index(after: eq)...])
        guard !value.isEmpty else {
            return .failure(Problem(description: "--stream \(text): \(kind) needs a value after '='"))
        }
        switch kind {
        case "json": return .success(.json(path: value))
        case "prometheus-rw":
            guard case .success = TargetURL.parse(value) else {
                return .failure(
                    Problem(description: "--stream \(text): not a URL; write it as http://host:9090/api/v1/write")
                )
            }
            return .success(.prometheusRemoteWrite(url: value))
        default:
            return .failure(
                Problem(
                    description: "--stream \(text): unknown kind \"\(kind)\"; use \(kinds.joined(separator: " or "))"
                )
            )
        }
    }

    /// The sink this option writes through; a problem names the option and the fix.
    public func makeSink() throws(Problem) -> any LiveSink {
        switch self {
        case .json(let path): try JSONStreamSink(path: path)
        case .prometheusRemoteWrite(let url): try RemoteWriteSink(url: url)
        }
    }
}
