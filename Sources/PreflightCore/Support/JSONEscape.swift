import Foundation

/// JSON string escaping, shared by body rendering and the compiled body's literals.
public enum JSONEscape {
    /// Appends `text` escaped for the inside of a JSON string: quote, backslash and every control character.
    public static func appendEscaped(_ text: String, to out: inout String) {
        guard text.utf8.contains(where: needsEscape) else {
            out += text
            return
        }
        var bytes: [UInt8] = []
        appendEscaped(
            text,
            write: { s in s.withUTF8Buffer { bytes.append(contentsOf: $0) } },
            byte: { bytes.append($0) }
        )
        out += String(decoding: bytes, as: UTF8.self)
    }

    /// Whether a UTF-8 byte must be escaped inside a JSON string.
    @inline(__always)
    public static func needsEscape(_ b: UInt8) -> Bool {
        b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\")
    }

    /// Writes `text` escaped through the given sinks (bytes that pass unchanged go through `byte`).
    @inline(__always)
    public static func appendEscaped(
        _ text: String,
        write: (StaticString) -> Void,
        byte: (UInt8) -> Void
    ) {
        for b in text.utf8 {
            guard needsEscape(b) else {
                byte(b)
                continue
            }
            switch b {
            case UInt8(ascii: "\""): write("\\\"")
            case UInt8(ascii: "\\"): write("\\\\")
            case 0x0A: write("\\n")
            case 0x0D: write("\\r")
            case 0x09: write("\\t")
            case 0x08: write("\\b")
            case 0x0C: write("\\f")
            default:
                write("\\u00")
                byte(hexDigit(b >> 4))
                byte(hexDigit(b & 0x0F))
            }
        }
    }

    @inline(__always)
    package static func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "a") + n - 10 }

    /// Whether `text` is a number by JSON's grammar (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), so it can be sent
    /// verbatim as a JSON number. "007", "1.", "+1", "NaN" and "0x10" are not.
    public static func isNumber(_ text: String) -> Bool {
        var it = Array(text.utf8)[...]
        func digits() -> Int {
            var n = 0
            while let c = it.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                it.removeFirst()
                n += 1
            }
            return n
        }
        if it.first == UInt8(ascii: "-") { it.removeFirst() }
        if it.first == UInt8(ascii: "0") {
            it.removeFirst()
        } else if digits() == 0 {
            return false
        }
        if it.first == UInt8(ascii: ".") {
            it.removeFirst()
            if digits() == 0 { return false }
        }
        if it.first == UInt8(ascii: "e") || it.first == UInt8(ascii: "E") {
            it.removeFirst()
            if it.first == UInt8(ascii: "+") || it.first == UInt8(ascii: "-") { it.removeFirst() }
            if digits() == 0 { return false }
        }
        return it.isEmpty
    }
}
