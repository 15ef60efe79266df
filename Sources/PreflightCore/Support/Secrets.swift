import Foundation
import Logging

/// Values that never reach an output: everything the harness writes (stdout, stderr, logs, report.json, HTML,
/// JUnit, summary, a drill's action logs) has each of them replaced by `***`.
///
/// Which values are secret (README "Secrets"): the value of every variable the scenario references whose name
/// contains `TOKEN`, `SECRET`, `PASSWORD`, `KEY` or `AUTH` (any case) or that is named with `--secret NAME`;
/// every `--var` with such a name even when no file references it; and the values of the `Authorization`,
/// `Proxy-Authorization` and `Cookie` headers, with their credentials and cookie values on their own. Values
/// shorter than ``minimumLength`` are not searched for: they would mask ordinary words and figures everywhere.
public struct Secrets: Sendable, Equatable {
    /// What a secret is replaced by.
    public static let mask = "***"
    /// Shorter values are not searched for in text (a 3-character value matches words and numbers everywhere).
    public static let minimumLength = 4

    /// Longest first, so a secret that contains another is masked whole.
    public private(set) var values: [String] = []

    public init() {}

    public init(_ values: some Sequence<String>) {
        for v in values { insert(v) }
    }

    public var isEmpty: Bool { values.isEmpty }

    /// Adds a value and its percent-encoded form (as it appears in a request path); short values are ignored.
    public mutating func insert(_ value: String) {
        guard value.count >= Self.minimumLength else { return }
        var forms = [value]
        if let encoded = value.addingPercentEncoding(withAllowedCharacters: Self.unreserved), encoded != value {
            forms.append(encoded)
        }
        for form in forms where !values.contains(form) {
            let at = values.firstIndex { $0.count < form.count } ?? values.endIndex
            values.insert(form, at: at)
        }
    }

    /// Both sets of values.
    public func union(_ other: Secrets) -> Secrets {
        var s = self
        for v in other.values { s.insert(v) }
        return s
    }

    /// Whether a variable's name says it holds a secret: it contains TOKEN, SECRET, PASSWORD, KEY or AUTH.
    public static func nameLooksSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["TOKEN", "SECRET", "PASSWORD", "KEY", "AUTH"].contains { upper.contains($0) }
    }

    /// Whether a header's value is a credential whatever variable it came from.
    public static func headerIsSecret(_ name: String) -> Bool {
        ["authorization", "proxy-authorization", "cookie"].contains(name.lowercased())
    }

    /// Adds a credential header's value, its credentials after the scheme (`Bearer x` → `x`) and, for a cookie,
    /// each cookie's value.
    public mutating func insert(headerValue value: String, name: String) {
        insert(value)
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if name.lowercased() == "cookie" {
            for pair in trimmed.split(separator: ";") {
                if let eq = pair.firstIndex(of: "=") {
                    insert(String(pair[pair.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
                }
            }
        } else if let space = trimmed.firstIndex(of: " ") {
            insert(String(trimmed[trimmed.index(after: space)...]).trimmingCharacters(in: .whitespaces))
        }
    }

    /// `text` with every secret replaced by `***`.
    public func redact(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        var out = text
        for v in values where out.contains(v) {
            out = out.replacingOccurrences(of: v, with: Self.mask)
        }
        return out
    }

    /// `bytes` with every secret's UTF-8 bytes replaced by `***`, for logs that are not necessarily UTF-8.
    public func redact(bytes: [UInt8]) -> [UInt8] {
        guard !values.isEmpty else { return bytes }
        var out = bytes
        for v in values {
            let needle = Array(v.utf8)
            guard needle.count <= out.count else { continue }
            var result: [UInt8] = []
            result.reserveCapacity(out.count)
            var i = 0
            var changed = false
            while i < out.count {
                if out[i] == needle[0], i + needle.count <= out.count, out[i..<(i + needle.count)].elementsEqual(needle)
                {
                    result.append(contentsOf: Self.mask.utf8)
                    i += needle.count
                    changed = true
                } else {
                    result.append(out[i])
                    i += 1
                }
            }
            if changed { out = result }
        }
        return out
    }

    /// A JSON document with every secret masked inside its strings (keys included), everything else byte for
    /// byte as it was: numbers, `true`, `null` and the layout are never touched, so a secret like `true` or
    /// `2024` cannot break the document.
    public func redact(json: Data) -> Data {
        guard !values.isEmpty else { return json }
        let bytes = [UInt8](json)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "\"") else {
                out.append(bytes[i])
                i += 1
                continue
            }
            var end = i + 1
            var escaped = false
            while end < bytes.count {
                if bytes[end] == UInt8(ascii: "\\") {
                    escaped = true
                    end += 2
                    continue
                }
                if bytes[end] == UInt8(ascii: "\"") { break }
                end += 1
            }
            end = min(end, bytes.count - 1)
            let token = bytes[i...end]
            if let replaced = redact(stringToken: token, escaped: escaped) {
                out.append(contentsOf: replaced)
            } else {
                out.append(contentsOf: token)
            }
            i = end + 1
        }
        return Data(out)
    }

    /// The token re-encoded with its secrets masked, or nil when it holds none.
    private func redact(stringToken token: ArraySlice<UInt8>, escaped: Bool) -> [UInt8]? {
        let text: String
        if escaped {
            guard let s = try? JSONDecoder().decode(String.self, from: Data(token)) else { return nil }
            text = s
        } else {
            text = String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
        }
        let redacted = redact(text)
        guard redacted != text else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(redacted)).map { [UInt8]($0) }
    }

    private static let unreserved = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    )
}

extension Console {
    /// This console with every secret masked in what it writes.
    public func redacting(_ secrets: Secrets) -> Console {
        guard !secrets.isEmpty else { return self }
        let out = self.out
        let errRaw = self.errRaw
        return Console(
            out: { out(secrets.redact($0)) },
            errRaw: { errRaw(secrets.redact($0)) },
            errIsTerminal: errIsTerminal
        )
    }
}

extension Logger {
    /// This logger with every secret masked in messages and metadata.
    public func redacting(_ secrets: Secrets) -> Logger {
        guard !secrets.isEmpty else { return self }
        var logger = self
        logger.handler = RedactingLogHandler(upstream: handler, secrets: secrets)
        return logger
    }
}

/// Masks secrets in everything logged, then hands the entry to the handler it wraps.
package struct RedactingLogHandler: LogHandler {
    package var upstream: any LogHandler
    package let secrets: Secrets

    package var logLevel: Logger.Level {
        get { upstream.logLevel }
        set { upstream.logLevel = newValue }
    }

    package var metadata: Logger.Metadata {
        get { upstream.metadata }
        set { upstream.metadata = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { upstream[metadataKey: key] }
        set { upstream[metadataKey: key] = newValue }
    }

    package func log(event: LogEvent) {
        var event = event
        event.message = "\(secrets.redact(event.message.description))"
        event.metadata = event.metadata.map { $0.mapValues(redact) }
        upstream.log(event: event)
    }

    private func redact(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let s): .string(secrets.redact(s))
        case .stringConvertible(let c): .string(secrets.redact(c.description))
        case .array(let a): .array(a.map(redact))
        case .dictionary(let d): .dictionary(d.mapValues(redact))
        }
    }
}
