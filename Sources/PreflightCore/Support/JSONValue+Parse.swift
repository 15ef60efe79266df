import Foundation

extension JSONValue {
    /// Why bytes are not a JSON document; the loaders turn the offset into a line and column.
    package struct ParseError: Error {
        package var offset: Int
        package var reason: String
    }

    /// The deepest nesting accepted: deeper documents are refused, never a stack overflow.
    package static let maxDepth = 512

    /// Parses RFC 8259 JSON straight into values. `JSONDecoder` into this enum probed each value as a boolean, then
    /// a number, then a string, each miss a thrown error: a 59 MB scenario took 29 s and 1 GB to validate.
    package static func parseFast(_ data: Data) throws(ParseError) -> JSONValue {
        let result: Result<JSONValue, ParseError> = data.withUnsafeBytes { raw in
            var parser = FastJSONParser(bytes: raw.bindMemory(to: UInt8.self))
            return Result { () throws(ParseError) in try parser.document() }
        }
        return try result.get()
    }
}

private struct FastJSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        // A UTF-8 byte order mark is skipped, as JSONDecoder does.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
    }

    func fail(_ reason: String) -> JSONValue.ParseError { JSONValue.ParseError(offset: i, reason: reason) }

    mutating func document() throws(JSONValue.ParseError) -> JSONValue {
        let v = try value()
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected text after the document") }
        return v
    }

    mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    mutating func value() throws(JSONValue.ParseError) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end of the document") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return .number(try number())
        }
    }

    mutating func literal(_ word: StaticString, _ v: JSONValue) throws(JSONValue.ParseError) -> JSONValue {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count,
            UnsafeBufferPointer(start: word.utf8Start, count: n).elementsEqual(bytes[i..<(i + n)])
        else { throw fail("invalid literal") }
        i += n
        return v
    }

    mutating func enter() throws(JSONValue.ParseError) {
        depth += 1
        guard depth <= JSONValue.maxDepth else { throw fail("nested deeper than \(JSONValue.maxDepth) levels") }
    }

    mutating func object() throws(JSONValue.ParseError) -> JSONValue {
        try enter()
        i += 1
        var dict: [String: JSONValue] = [:]
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .object(dict)
        }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected \":\"") }
            i += 1
            dict[key] = try value()
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of the document") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected \",\" or \"}\"") }
            i += 1
            depth -= 1
            return .object(dict)
        }
    }

    mutating func array() throws(JSONValue.ParseError) -> JSONValue {
        try enter()
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .array(items)
        }
        while true {
            items.append(try value())
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of the document") }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected \",\" or \"]\"") }
            i += 1
            depth -= 1
            return .array(items)
        }
    }

    mutating func string() throws(JSONValue.ParseError) -> String {
        i += 1  // the opening quote
        let start = i
        // The common case: no escape, valid UTF-8, decoded in one go.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                guard let s = String(validating: bytes[start..<i], as: UTF8.self) else {
                    throw fail("invalid UTF-8 in a string")
                }
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("a control character in a string must be escaped") }
            i += 1
        }
        var out = [UInt8](bytes[start..<i])
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return s
            }
            if b < 0x20 { throw fail("a control character in a string must be escaped") }
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    // A high surrogate needs its low half.
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("a lone surrogate \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw fail("a lone surrogate \\u escape")
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("an invalid \\u escape") }
                out.append(contentsOf: String(scalar).utf8)
            default:
                throw fail("an invalid escape \\\(Unicode.Scalar(e))")
            }
        }
        throw fail("a string is not closed")
    }

    mutating func hex4() throws(JSONValue.ParseError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("a short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("an invalid \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    /// RFC 8259's number grammar, read by `Double`; a number beyond its range (`1e400`) is refused.
    mutating func number() throws(JSONValue.ParseError) -> Double {
        let start = i
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - s
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count else { throw fail("invalid value") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if digits() == 0 {
            throw fail("invalid value")
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw fail("a number needs digits after \".\"") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("a number needs digits in its exponent") }
        }
        guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)), d.isFinite else {
            throw fail("a number out of range")
        }
        return d
    }
}
