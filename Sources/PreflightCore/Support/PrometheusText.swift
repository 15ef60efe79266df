import Foundation

/// Prometheus' text exposition format (0.0.4): what a target's `/metrics` answers and `target.metrics` scrapes.
///
/// Parsed properly rather than with a regular expression: `# HELP` and `# TYPE` lines, label values with the
/// escapes `\\`, `\"` and `\n`, a trailing comma in a label set, the values `+Inf`, `-Inf` and `NaN`, an optional
/// timestamp. A line that does not fit is an error naming the line, not a silently dropped series.
public struct PrometheusExposition: Sendable, Equatable {
    /// One sample line: `name{labels} value`.
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double

        public init(name: String, labels: [String: String] = [:], value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }

        public static func == (a: Sample, b: Sample) -> Bool {
            a.name == b.name && a.labels == b.labels && (a.value == b.value || (a.value.isNaN && b.value.isNaN))
        }
    }

    public var samples: [Sample]
    /// Family name → `counter`, `gauge`, `histogram`, `summary` or `untyped`, from `# TYPE` lines.
    public var types: [String: String]

    /// A line that is not valid exposition text.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> PrometheusExposition {
        var result = PrometheusExposition(samples: [], types: [:])
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            var cursor = Cursor(Array(line.utf8))
            cursor.skipSpaces()
            if cursor.atEnd { continue }
            if cursor.peek == UInt8(ascii: "#") {
                cursor.index += 1
                cursor.skipSpaces()
                let keyword = cursor.word()
                guard keyword == "TYPE" else { continue }  // HELP and free comments carry nothing we use
                cursor.skipSpaces()
                let name = cursor.metricName()
                cursor.skipSpaces()
                let type = cursor.word()
                guard !name.isEmpty, ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else {
                    throw ParseError(line: number, message: "a # TYPE line needs a metric name and a known type")
                }
                result.types[name] = type
                continue
            }
            do {
                result.samples.append(try cursor.sample())
            } catch {
                throw ParseError(line: number, message: error.message)
            }
        }
        return result
    }

    /// A value as the format writes it (Go's `ParseFloat`): a decimal or `+Inf`, `-Inf`, `NaN`.
    package static func value(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf", "+inf", "inf": return .infinity
        case "-Inf", "-inf": return -.infinity
        case "NaN", "nan": return .nan
        default:
            guard text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }) else { return nil }
            return Double(text)
        }
    }

    /// A label value as exposition text writes it: `\\`, `\"` and `\n` escaped, scalar by scalar (Foundation's
    /// `replacingOccurrences` compares characters, and missed a line break followed by a combining mark: found by
    /// the round-trip fuzzer).
    package static func escapeLabelValue(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        for c in value.unicodeScalars {
            switch c {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\"": out.append(contentsOf: "\\\"".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            default: out.append(c)
            }
        }
        return String(out)
    }

    package struct LineError: Error {
        package var message: String
    }

    package struct Cursor {
        package var bytes: [UInt8]
        package var index = 0

        package init(_ bytes: [UInt8]) { self.bytes = bytes }

        package var atEnd: Bool { index >= bytes.count }
        package var peek: UInt8? { atEnd ? nil : bytes[index] }

        package mutating func skipSpaces() {
            while let b = peek, b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") { index += 1 }
        }

        package mutating func word() -> String {
            let start = index
            while let b = peek, b != UInt8(ascii: " "), b != UInt8(ascii: "\t") { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        package static func isNameStart(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || b == UInt8(ascii: "_") || b == UInt8(ascii: ":")
        }

        package static func isNameByte(_ b: UInt8) -> Bool {
            isNameStart(b) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
        }

        /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, or "" when none starts here.
        package mutating func metricName() -> String {
            guard let first = peek, Self.isNameStart(first) else { return "" }
            let start = index
            while let b = peek, Self.isNameByte(b) { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// `{name="value",...}` after the opening brace has been seen; a trailing comma is allowed.
        package mutating func labels() throws(LineError) -> [String: String] {
            var labels: [String: String] = [:]
            index += 1  // {
            while true {
                skipSpaces()
                if peek == UInt8(ascii: "}") {
                    index += 1
                    return labels
                }
                let name = metricName()
                guard !name.isEmpty, !name.contains(":") else { throw LineError(message: "expected a label name") }
                skipSpaces()
                guard peek == UInt8(ascii: "=") else { throw LineError(message: "expected = after label \(name)") }
                index += 1
                skipSpaces()
                guard peek == UInt8(ascii: "\"") else { throw LineError(message: "label \(name)'s value needs quotes") }
                index += 1
                var value: [UInt8] = []
                while true {
                    guard let b = peek else { throw LineError(message: "label \(name)'s value is not closed") }
                    index += 1
                    if b == UInt8(ascii: "\"") { break }
                    if b == UInt8(ascii: "\\") {
                        guard let e = peek else { throw LineError(message: "a lone \\ ends label \(name)'s value") }
                        index += 1
                        switch e {
                        case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
                        case UInt8(ascii: "\\"), UInt8(ascii: "\""): value.append(e)
                        default: value += [b, e]  // kept as written, as Prometheus does
                        }
                    } else {
                        value.append(b)
                    }
                }
                guard labels[name] == nil else { throw LineError(message: "label \(name) appears twice") }
                labels[name] = String(decoding: value, as: UTF8.self)
                skipSpaces()
                if peek == UInt8(ascii: ",") {
                    index += 1
                } else if peek != UInt8(ascii: "}") {
                    throw LineError(message: "expected , or } after label \(name)")
                }
            }
        }

        package mutating func sample() throws(LineError) -> Sample {
            let name = metricName()
            guard !name.isEmpty else { throw LineError(message: "expected a metric name") }
            var labels: [String: String] = [:]
            if peek == UInt8(ascii: "{") { labels = try self.labels() }
            guard peek == UInt8(ascii: " ") || peek == UInt8(ascii: "\t") else {
                throw LineError(message: "expected a space and a value after \(name)")
            }
            skipSpaces()
            let text = word()
            guard let value = PrometheusExposition.value(text) else {
                throw LineError(message: "\"\(text)\" is not a value (a number, +Inf, -Inf or NaN)")
            }
            skipSpaces()
            if !atEnd {
                let timestamp = word()
                guard Int64(timestamp) != nil else { throw LineError(message: "\"\(timestamp)\" is not a timestamp") }
                skipSpaces()
                guard atEnd else { throw LineError(message: "unexpected text after the timestamp") }
            }
            return Sample(name: name, labels: labels, value: value)
        }
    }
}

/// A series selector as PromQL writes one: `name` or `name{label="value",...}` (equality matchers only).
public struct SeriesSelector: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var matchers: [String: String]

    public init(name: String, matchers: [String: String] = [:]) {
        self.name = name
        self.matchers = matchers
    }

    /// Parses `name{label="value"}`; nil with the reason when it is not one.
    public static func parse(_ text: String) -> Result<SeriesSelector, PrometheusExposition.ParseError> {
        var cursor = PrometheusExposition.Cursor(Array(text.utf8))
        cursor.skipSpaces()
        let name = cursor.metricName()
        guard !name.isEmpty else {
            return .failure(.init(line: 1, message: "a selector starts with a metric name like http_requests_total"))
        }
        var matchers: [String: String] = [:]
        if cursor.peek == UInt8(ascii: "{") {
            do {
                matchers = try cursor.labels()
            } catch {
                return .failure(.init(line: 1, message: error.message))
            }
        }
        cursor.skipSpaces()
        guard cursor.atEnd else {
            return .failure(.init(line: 1, message: "unexpected text after the selector (only name{label=\"value\"})"))
        }
        return .success(SeriesSelector(name: name, matchers: matchers))
    }

    public func matches(_ s: PrometheusExposition.Sample, name: String? = nil) -> Bool {
        s.name == (name ?? self.name) && matchers.allSatisfy { s.labels[$0.key] == $0.value }
    }

    public var description: String {
        guard !matchers.isEmpty else { return name }
        let inner = matchers.keys.sorted().map { key in
            "\(key)=\"\(PrometheusExposition.escapeLabelValue(matchers[key]!))\""
        }
        return "\(name){\(inner.joined(separator: ","))}"
    }
}
