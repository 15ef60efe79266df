import NIOCore
import NIOEmbedded
import NIOHTTP1
import PreflightKit

/// What a parser made of one response's bytes: enough to say whether two parsers framed it the same way.
struct HTTPFraming: Equatable, CustomStringConvertible {
    /// The final status, when a head was read.
    var status: Int?
    var body: [UInt8] = []
    /// Whether the response ended (its body complete).
    var complete = false
    /// Whether the parser refused the bytes (and why, for the report; not compared).
    var error: String?

    var description: String {
        let verdict = error.map { "error \($0)" } ?? (complete ? "complete" : "incomplete")
        return "status \(status.map(String.init) ?? "-") body \(body.count) B \(verdict)"
    }

    /// Same status, body and end, or both refused (where a refusal lands can differ: both closed the connection).
    func agrees(with other: HTTPFraming) -> Bool {
        if error != nil || other.error != nil { return (error != nil) == (other.error != nil) }
        return status == other.status && body == other.body && complete == other.complete
    }
}

extension Differential {
    /// Our load path's parser on `bytes`, delivered in pieces ending at `splits`, then the connection closed.
    static func ours(_ bytes: [UInt8], splits: [Int], isHead: Bool) -> HTTPFraming {
        var parser = HTTPResponseParser()
        parser.expectResponse(isHead: isHead, keepHeaders: false)
        var out = HTTPFraming()
        func take(_ event: HTTPResponseParser.Event) {
            switch event {
            case .head(let status, _, _, _, _): out.status = status
            case .body(let part): out.body += part.readableBytesView
            case .end: out.complete = true
            }
        }
        do {
            var start = 0
            for end in splits + [bytes.count] where end >= start {
                parser.append(ByteBuffer(bytes: bytes[start..<end]))
                start = end
                while let event = try parser.next() { take(event) }
            }
            if let event = try parser.closed() { take(event) }
        } catch {
            out.error = "\((error as? HTTPResponseParser.Error)?.code ?? .truncated)"
        }
        return out
    }

    /// NIOHTTP1's decoder (llhttp 9, strict) on the same bytes in one piece, after a GET or HEAD request.
    static func nio(_ bytes: [UInt8], isHead: Bool) -> HTTPFraming {
        var out = HTTPFraming()
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        func drain() throws {
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case .head(let head): out.status = Int(head.status.code)
                case .body(let b): out.body += b.readableBytesView
                case .end: out.complete = true
                }
            }
        }
        do {
            try channel.pipeline.syncOperations.addHandlers([
                HTTPRequestEncoder(), ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)),
            ])
            try channel.writeOutbound(
                HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: isHead ? .HEAD : .GET, uri: "/"))
            )
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
            while try channel.readOutbound(as: ByteBuffer.self) != nil {}
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            try drain()
            // The close: a body that runs to it ends; an unfinished message is an error.
            channel.pipeline.fireChannelInactive()
            try drain()
            try channel.throwIfErrorCaught()
        } catch {
            out.error = "\(error)"
        }
        return out
    }

    /// The splits tried for an input: every single split point for short inputs, byte by byte, and a few spread
    /// points for long ones (every pair of points would be quadratic in the input).
    static func splits(of count: Int) -> [[Int]] {
        guard count > 1 else { return [] }
        var all: [[Int]] = [Array(1..<count)]  // byte by byte
        if count <= 128 {
            all += (1..<count).map { [$0] }
        } else {
            all += stride(from: 1, to: count, by: count / 31).map { [$0] }
        }
        return all
    }
}

extension Differential {
    /// A difference from llhttp we keep on purpose, recognised by its input: after `normalize` removes the feature,
    /// the two parsers agree.
    struct Deliberate: Sendable {
        var name: String
        /// Whether this difference can explain `ours` against `theirs`.
        var applies: @Sendable (_ bytes: [UInt8], _ ours: HTTPFraming, _ theirs: HTTPFraming) -> Bool
        /// The input without the feature; nil when the outcomes alone explain it.
        var normalize: (@Sendable ([UInt8]) -> [UInt8])?
    }

    /// The documented list (README, "Differential fuzzing"): each with its reason there.
    static let deliberate: [Deliberate] = [
        Deliberate(
            name: "status outside 100–599 refused",
            applies: { _, ours, theirs in
                ours.error == "badStatusLine" && theirs.error == nil && !(100...599).contains(theirs.status ?? 0)
            },
            normalize: nil
        ),
        Deliberate(
            name: "101 Switching Protocols refused",
            applies: { _, ours, theirs in ours.error == "badStatusLine" && theirs.status == 101 },
            normalize: nil
        ),
        Deliberate(
            name: "a CR inside a status line refused",
            applies: { bytes, ours, theirs in
                guard ours.error != nil, theirs.error == nil else { return false }
                // Any status line, the final one's or an interim answer's.
                return bytes.split(separator: 0x0A).contains { line in
                    let text = line.drop { $0 == 0x0D }
                    return text.starts(with: Array("HTTP/".utf8)) && text.dropLast().contains(0x0D)
                }
            },
            normalize: nil
        ),
        Deliberate(
            name: "a Transfer-Encoding line with an empty element refused",
            applies: { _, ours, theirs in ours.error == "badHeader" && theirs.error == nil },
            normalize: { bytes in withoutEmptyTransferCodings(bytes) }
        ),
        Deliberate(
            name: "a Content-Length beside a blank Transfer-Encoding line refused",
            applies: { _, ours, theirs in ours.error == "badContentLength" && theirs.error == nil },
            normalize: { bytes in withoutBlankTransferEncoding(bytes) }
        ),
        Deliberate(
            name: "a bare LF ends a line",
            applies: { _, _, _ in true },
            normalize: { bytes in
                var out: [UInt8] = []
                out.reserveCapacity(bytes.count + 16)
                for (i, b) in bytes.enumerated() {
                    if b == 0x0A, i == 0 || bytes[i - 1] != 0x0D { out.append(0x0D) }
                    out.append(b)
                }
                return out
            }
        ),
        Deliberate(
            name: "a repeated identical Content-Length is one",
            applies: { _, _, _ in true },
            normalize: { bytes in withoutRepeatedContentLength(bytes) }
        ),
        Deliberate(
            name: "blanks before a header line's end are not its value",
            applies: { _, _, _ in true },
            normalize: { bytes in withoutTrailingBlanks(bytes) }
        ),
        Deliberate(
            name: "any CR and LF before the status line are skipped",
            applies: { _, _, _ in true },
            normalize: { bytes in withoutBreaksBeforeStatusLines(bytes) }
        ),
        Deliberate(
            name: "chunk extensions are skipped, not parsed",
            applies: { _, _, _ in true },
            normalize: { bytes in withoutChunkExtensions(bytes) }
        ),
    ]

    /// A chunked response with its chunk extensions (`;…` to the line end) removed; other bytes as they are.
    static func withoutChunkExtensions(_ bytes: [UInt8]) -> [UInt8] {
        func line(from i: Int) -> Range<Int>? {
            guard let lf = bytes[i...].firstIndex(of: 0x0A) else { return nil }
            return i..<(lf + 1)
        }
        // The heads, interim answers' too (found by the fuzzer: only the first head was skipped, so after a
        // `100 Continue` the final head was read as chunks and the body's extensions were left in).
        var i = headsEnd(bytes)
        var out = Array(bytes[..<i])
        while let r = line(from: i) {
            let text = bytes[r]
            let size = text.prefix { $0 != UInt8(ascii: ";") && $0 != 0x0D && $0 != 0x0A }
            out += size
            out += text.last == 0x0A && text.dropLast().last == 0x0D ? [0x0D, 0x0A] : [0x0A]
            i = r.upperBound
            guard let n = Int(String(decoding: size, as: UTF8.self), radix: 16), n > 0, n < bytes.count else { break }
            let end = min(bytes.count, i + n + 2)  // the data and its CRLF
            out += bytes[i..<end]
            i = end
        }
        return out + bytes[i...]
    }

    /// The heads a response starts with, each from its status line to its blank line, past the CR and LF before it
    /// (skipped, as a parser may). Interim (1xx) heads come before the final one, which is the last here. (Found by
    /// the fuzzer: a CR before a status line after an interim answer moved where its status was looked for, the
    /// heads seemed to end there, and a repeated Content-Length in the next one was left to disagree.)
    static func heads(_ bytes: [UInt8]) -> [Range<Int>] {
        var all: [Range<Int>] = []
        var i = 0
        while i < bytes.count {
            while i < bytes.count, bytes[i] == 0x0D || bytes[i] == 0x0A { i += 1 }
            let head = i
            var interim: Bool?
            var ended = false
            while i < bytes.count {
                let end = bytes[i...].firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
                let line = bytes[i..<end]
                i = end
                if interim == nil {
                    interim = line.count > 9 && line[line.startIndex + 9] == UInt8(ascii: "1")
                } else if line.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) {
                    ended = true
                    break
                }
            }
            all.append(head..<i)
            if !ended || interim != true { break }
        }
        return all
    }

    /// Where the heads end: after the blank line of the final head (interim answers come before it), or the input's
    /// end.
    static func headsEnd(_ bytes: [UInt8]) -> Int { heads(bytes).last?.upperBound ?? bytes.count }

    /// The bytes without the CR and LF before each status line: the first one's and each after an interim answer.
    static func withoutBreaksBeforeStatusLines(_ bytes: [UInt8]) -> [UInt8] {
        let all = heads(bytes)
        return all.flatMap { bytes[$0] } + bytes[(all.last?.upperBound ?? bytes.count)...]
    }

    /// The heads' lines with `transform` applied to each (its line break kept); the body as it is.
    static func rewritingHeadLines(_ bytes: [UInt8], _ transform: (inout [UInt8]) -> Bool) -> [UInt8] {
        let end = headsEnd(bytes)
        var out: [UInt8] = []
        var i = 0
        while i < end {
            let stop = bytes[i..<end].firstIndex(of: 0x0A).map { $0 + 1 } ?? end
            var line = Array(bytes[i..<stop])
            i = stop
            var lineBreak: [UInt8] = []
            if line.last == 0x0A {
                lineBreak = line.count >= 2 && line[line.count - 2] == 0x0D ? [0x0D, 0x0A] : [0x0A]
                line.removeLast(lineBreak.count)
            }
            if transform(&line) { out += line + lineBreak }
        }
        return out + bytes[end...]
    }

    /// The bytes with the blanks before each head line's end removed.
    static func withoutTrailingBlanks(_ bytes: [UInt8]) -> [UInt8] {
        rewritingHeadLines(bytes) { line in
            while let b = line.last, b == 0x20 || b == 0x09 { line.removeLast() }
            return true
        }
    }

    /// The bytes with the empty elements of every `Transfer-Encoding` line removed (`chunked ,,` is `chunked`; a line
    /// of commas alone goes); a blank line stays as it is.
    static func withoutEmptyTransferCodings(_ bytes: [UInt8]) -> [UInt8] {
        rewritingHeadLines(bytes) { line in
            guard let colon = colon(of: line, named: "transfer-encoding") else { return true }
            let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
            let codings = line[(colon + 1)...].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                .map { Array($0.drop(while: blank).reversed().drop(while: blank).reversed()) }
                .filter { !$0.isEmpty }
            guard !codings.isEmpty else { return !line[(colon + 1)...].contains(UInt8(ascii: ",")) }
            line = Array(line[...colon]) + [0x20] + Array(codings.joined(separator: Array(", ".utf8)))
            return true
        }
    }

    /// Where the `:` of a head line is, when the line is the field `name` (lowercase).
    static func colon(of line: [UInt8], named name: String) -> Int? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")),
            String(decoding: line[..<colon], as: UTF8.self).lowercased() == name
        else { return nil }
        return colon
    }

    /// The bytes without their blank `Transfer-Encoding` lines (`Transfer-Encoding:` and nothing else).
    static func withoutBlankTransferEncoding(_ bytes: [UInt8]) -> [UInt8] {
        rewritingHeadLines(bytes) { line in
            guard let colon = colon(of: line, named: "transfer-encoding") else { return true }
            return !line[(colon + 1)...].allSatisfy { $0 == 0x20 || $0 == 0x09 }
        }
    }

    /// The bytes with every `Content-Length` line of a head that repeats an earlier one's number removed.
    static func withoutRepeatedContentLength(_ bytes: [UInt8]) -> [UInt8] {
        var seen: [[UInt8]] = []
        return rewritingHeadLines(bytes) { line in
            if line.isEmpty { seen = [] }  // the next head starts afresh
            guard let colon = colon(of: line, named: "content-length") else { return true }
            let value = Array(
                line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }
                    .reversed()
            )
            // Compared as numbers: "012" repeats "12".
            let digits = Array(value.drop { $0 == UInt8(ascii: "0") })
            let key = !value.isEmpty && value.allSatisfy { (0x30...0x39).contains($0) } ? digits : value
            if seen.contains(key) { return false }
            seen.append(key)
            return true
        }
    }

    /// The HTTP/1 response parser, differential: input byte 0's low bit says the request was HEAD; the rest is what
    /// the server sent. The same bytes in one piece and in every split give the same answer, and that answer is
    /// llhttp's (NIOHTTP1), but for the documented deliberate differences.
    public static func http1(_ data: [UInt8]) -> [String] {
        guard let flags = data.first else { return [] }
        let isHead = flags & 1 == 1
        let bytes = Array(data.dropFirst())
        var broken: [String] = []
        let whole = ours(bytes, splits: [], isHead: isHead)
        for split in splits(of: bytes.count) {
            let parts = ours(bytes, splits: split, isHead: isHead)
            if !parts.agrees(with: whole) {
                broken.append("split at \(split.count == 1 ? "\(split[0])" : "every byte"): \(parts), whole: \(whole)")
                break
            }
        }
        let theirs = nio(bytes, isHead: isHead)
        if !whole.agrees(with: theirs), explanation(bytes, isHead: isHead, ours: whole, theirs: theirs) == nil {
            broken.append("ours \(whole) ≠ llhttp \(theirs)")
        }
        if whole.complete, whole.error == nil { broken += journey(bytes, isHead: isHead) }
        return broken
    }

    /// The deliberate difference that explains a disagreement, if one does.
    static func explanation(_ bytes: [UInt8], isHead: Bool, ours: HTTPFraming, theirs: HTTPFraming) -> String? {
        for d in deliberate where d.applies(bytes, ours, theirs) {
            guard let normalize = d.normalize else { return d.name }
            let normal = normalize(bytes)
            guard normal != bytes else { continue }  // the input has no such feature
            let a = Self.ours(normal, splits: [], isHead: isHead)
            let b = nio(normal, isHead: isHead)
            if a.agrees(with: b) || explanation(normal, isHead: isHead, ours: a, theirs: b) != nil { return d.name }
        }
        return nil
    }
}
