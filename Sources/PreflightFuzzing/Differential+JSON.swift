import Foundation
import PreflightCore

extension Differential {
    /// The JSON parser (`JSONValue.parseFast`, the scenario loader's) against Foundation's `JSONSerialization`:
    /// the same accept/reject and equal values, within the documented limits: UTF-8 only (Foundation also reads
    /// UTF-16 and UTF-32), at most `JSONValue.maxDepth` levels, numbers as `Double` (one beyond its range refused;
    /// equal within a relative 1e-12, as Foundation keeps some integers and decimals exactly).
    public static func json(_ data: [UInt8]) -> [String] {
        // Foundation guesses UTF-16 or UTF-32 from zero bytes among the first four; we read UTF-8 only.
        if data.prefix(4).contains(0) { return [] }
        let bytes = Data(data)
        let ours = Result { try JSONValue.parseFast(bytes) }
        let theirs = Result { try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) }
        switch (ours, theirs) {
        case (.success(let a), .success(let b)):
            guard let b = jsonValue(b) else { return ["Foundation gave a value of another kind: \(type(of: b))"] }
            // Foundation drops a U+FEFF at the start of a string or key (NSString takes it for a byte order mark),
            // which can merge two keys: with one inside the document, only accept and reject are compared.
            if hasInnerBOM(data) { return [] }
            return same(a, b) ? [] : ["ours \(describe(a)) ≠ Foundation's \(describe(b))"]
        case (.failure, .failure):
            return []
        case (.success(let a), .failure(let e)):
            return ["ours accepted \(describe(a)); Foundation refused: \(e)"]
        case (.failure(let e), .success(let b)):
            if let reason = deliberateJSON(e, data, theirs: b) { return reason.isEmpty ? [] : [reason] }
            return ["ours refused (\(e)); Foundation accepted \(jsonValue(b).map(describe) ?? "\(b)")"]
        }
    }

    /// Whether a U+FEFF appears after the document's first bytes, raw or as `\ufeff`.
    static func hasInnerBOM(_ data: [UInt8]) -> Bool {
        let body = data.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(data.dropFirst(3)) : data
        if body.indices.contains(where: { body[$0...].starts(with: [0xEF, 0xBB, 0xBF]) }) { return true }
        return String(decoding: body, as: UTF8.self).lowercased().contains("\\ufeff")
    }

    /// Nil when a refusal of ours is not a documented difference; "" when it is; otherwise what is wrong.
    static func deliberateJSON(_ error: any Error, _ data: [UInt8], theirs: Any) -> String? {
        guard let e = error as? JSONValue.ParseError else { return nil }
        if e.reason.hasPrefix("nested deeper than") { return "" }  // the depth limit
        if e.reason == "a number out of range" { return "" }  // beyond Double: refused, not infinity
        // Foundation takes a comma before "]" or "}"; RFC 8259 does not. Without them, ours must agree.
        let strict = withoutTrailingCommas(data)
        guard strict != data else { return nil }
        let v: JSONValue
        do {
            v = try JSONValue.parseFast(Data(strict))
        } catch {
            return deliberateJSON(error, strict, theirs: theirs)  // another documented refusal behind the comma
        }
        if let b = jsonValue(theirs) {
            return same(v, b) || hasInnerBOM(data)
                ? "" : "without its trailing commas, ours \(describe(v)) ≠ Foundation's \(describe(b))"
        }
        return nil
    }

    /// The document with every comma that only blanks separate from a closing bracket removed (outside strings).
    static func withoutTrailingCommas(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var escaped = false
        var pendingComma: Int?
        for b in data {
            if inString {
                out.append(b)
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch b {
            case UInt8(ascii: ","):
                pendingComma = out.count
                out.append(b)
                continue
            case 0x20, 0x09, 0x0A, 0x0D:
                out.append(b)
                continue
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if let c = pendingComma { out.remove(at: c) }
            case UInt8(ascii: "\""):
                inString = true
            default: break
            }
            pendingComma = nil
            out.append(b)
        }
        return out
    }

    /// Foundation's value as ours (numbers as `Double`); nil for a kind JSON does not have.
    static func jsonValue(_ any: Any) -> JSONValue? {
        switch any {
        case is NSNull: return .null
        case let s as String: return .string(s)
        case let a as [Any]:
            var items: [JSONValue] = []
            for x in a {
                guard let v = jsonValue(x) else { return nil }
                items.append(v)
            }
            return .array(items)
        case let o as [String: Any]:
            var dict: [String: JSONValue] = [:]
            for (k, x) in o {
                guard let v = jsonValue(x) else { return nil }
                dict[k] = v
            }
            return .object(dict)
        case let n as NSNumber:
            // A JSON true or false is an NSNumber of Objective-C type 'c' (char).
            if String(cString: n.objCType) == "c" { return .bool(n.boolValue) }
            return .number(n.doubleValue)
        case let b as Bool: return .bool(b)
        case let d as Double: return .number(d)
        case let i as Int: return .number(Double(i))
        case let d as Decimal: return .number(NSDecimalNumber(decimal: d).doubleValue)
        default: return nil
        }
    }

    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.number(let x), .number(let y)): return x == y || abs(x - y) <= 1e-12 * max(abs(x), abs(y))
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
        default: return false
        }
    }

    static func describe(_ v: JSONValue) -> String {
        let text = "\(v)"
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
