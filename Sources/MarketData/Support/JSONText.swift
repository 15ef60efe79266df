import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Small helpers for JSON bodies written by hand (stable key order, no Foundation encoder on the hot path).
enum JSONText {
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// A finite number, or `null`.
    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return "\(v)"
    }

    static func response(_ body: String, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        response(ByteBuffer(string: body), status: status, extra: extra)
    }

    static func response(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }
}

/// `^[A-Z][A-Z0-9.\-]{0,14}$`, checked without a regex engine.
func isValidSymbol(_ s: Substring) -> Bool {
    let bytes = s.utf8
    guard let first = bytes.first, bytes.count <= 15, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else {
        return false
    }
    return bytes.dropFirst().allSatisfy {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
            || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
    }
}

/// `YYYY-MM-DD` that names a real day.
func isValidDate(_ s: Substring) -> Bool {
    let parts = s.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
        let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1
    else { return false }
    let days = [31, (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return d <= days[m - 1]
}

/// Compares secrets in time independent of where they differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return diff == 0
}
