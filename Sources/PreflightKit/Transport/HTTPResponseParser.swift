import NIOCore
import NIOHTTP1
import PreflightCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A lean HTTP/1.1 response parser for the load path: the status line, the framing headers, and the other
/// headers only when a check needs them, read straight from the `ByteBuffer`.
///
/// NIO's general decoder builds an `HTTPResponseHead` with every header as `String`s for every response; a load
/// generator needs the status and the framing, so this parser does only that (measured: see the README's
/// performance section). Framing follows RFC 9112 §6: no body for HEAD, 1xx, 204 and 304; `Transfer-Encoding:
/// chunked`; `Content-Length`; otherwise the body runs to the end of the connection. Strict where a lenient
/// reading could desynchronise a keep-alive connection: conflicting or malformed lengths, bad chunk sizes and
/// heads over `maxHeadBytes` are errors, and the connection is closed.
package struct HTTPResponseParser {
    package enum Event {
        /// `coding`: the body's `Content-Encoding`, read whether or not the headers are kept.
        /// `location`: a 3xx answer's `Location`.
        case head(status: Int, keepAlive: Bool, headers: ResponseHeaders?, coding: ContentCoding, location: String?)
        case body(ByteBuffer)
        case end
    }

    package struct Error: Swift.Error, Equatable {
        package enum Code: Equatable {
            case headTooLarge, badStatusLine, badHeader, badContentLength, badChunk, unexpectedData, truncated
        }
        package var code: Code
    }

    /// Heads larger than this are refused (the whole status line and headers).
    package static let maxHeadBytes = 64 * 1024
    /// Chunk-size lines (with extensions) and trailers larger than this are refused.
    static let maxLineBytes = 8 * 1024

    private enum State {
        /// Between responses: bytes now are the start of a response head.
        case idle
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        /// The response is complete; the next call reports `.end`.
        case ending
    }

    private var state = State.idle
    /// Bytes read and not parsed yet.
    private var buffer = ByteBuffer()
    /// The request in flight was a HEAD: its response has no body whatever its headers say.
    private var noBody = false
    /// Whether `.head` carries the headers (a header check needs them).
    private var keepHeaders = false
    /// A response ended with more bytes behind it in the same read: the server sent what was not asked for.
    private var unsolicited = false
    /// An interim answer said `Connection: close`: the server ends the connection there, so a response after it is
    /// not one to read (llhttp refuses it too; found by the differential fuzzer).
    private var closedByInterim = false

    package init() {}

    /// A request was sent: its response comes next.
    package mutating func expectResponse(isHead: Bool, keepHeaders: Bool) {
        noBody = isHead
        self.keepHeaders = keepHeaders
        if case .idle = state { state = .head }
    }

    /// Adds bytes read from the connection; `next()` then parses them.
    package mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            buffer.writeImmutableBuffer(bytes)
        }
    }

    /// The next event, or nil when more bytes are needed. Pull-style, so that handling `.end` may send the next
    /// request (and call `expectResponse`) before parsing goes on.
    package mutating func next() throws -> Event? {
        if unsolicited { throw Error(code: .unexpectedData) }
        while true {
            switch state {
            case .idle, .head:
                // Empty lines before a status line are ignored (RFC 9112 §2.2), as llhttp ignores any CR and LF there.
                while let b = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
                    b == UInt8(ascii: "\r") || b == UInt8(ascii: "\n")
                {
                    buffer.moveReaderIndex(forwardBy: 1)
                }
                guard buffer.readableBytes > 0 else { return nil }
                guard case .head = state, !closedByInterim else { throw Error(code: .unexpectedData) }
                guard let headLength = Self.headLength(buffer) else {
                    if buffer.readableBytes > Self.maxHeadBytes { throw Error(code: .headTooLarge) }
                    return nil
                }
                guard headLength <= Self.maxHeadBytes else { throw Error(code: .headTooLarge) }
                let head = buffer.readSlice(length: headLength)!
                if let event = try parseHead(head) { return event }
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = n == remaining ? .ending : .fixed(remaining: remaining - n)
                return .body(buffer.readSlice(length: n)!)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunkSize:
                guard let line = try readLine() else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = n == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - n)
                return .body(buffer.readSlice(length: n)!)
            case .chunkDataEnd:
                // Exactly CRLF after a chunk's data (RFC 9112 §7.1), as llhttp and Go's net/http insist: a bare LF
                // here may be the data's last byte miscounted, and reading on would desynchronise the connection.
                guard let cr = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                guard cr == UInt8(ascii: "\r") else { throw Error(code: .badChunk) }
                guard let lf = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
                guard lf == UInt8(ascii: "\n") else { throw Error(code: .badChunk) }
                buffer.moveReaderIndex(forwardBy: 2)
                state = .chunkSize
            case .trailers:
                guard let line = try readLine() else { return nil }
                if line.readableBytes == 0 {
                    state = .ending
                } else {
                    try Self.checkTrailer(line)
                }
            case .ending:
                state = .idle
                // Anything but line breaks left in this read was not asked for.
                unsolicited = buffer.readableBytesView.contains { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return .end
            }
        }
    }

    /// The connection closed: a body that runs to the close ends here; anything else unfinished is truncated.
    package mutating func closed() throws -> Event? {
        switch state {
        case .untilClose, .ending:
            state = .idle
            return .end
        case .idle:
            return nil
        case .head where buffer.readableBytesView.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }):
            return nil  // nothing of a response came, at most line breaks
        default:
            throw Error(code: .truncated)
        }
    }

    /// Reads one line (without its line break), or nil until the whole line has arrived.
    private mutating func readLine() throws -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maxLineBytes { throw Error(code: .badChunk) }
            return nil
        }
        var length = lf - view.startIndex
        if length > Self.maxLineBytes { throw Error(code: .badChunk) }
        let line = buffer.readSlice(length: length + 1)!
        if length > 0, line.getInteger(at: line.readerIndex + length - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            length -= 1
        }
        return line.getSlice(at: line.readerIndex, length: length)
    }

    /// The length of the head including its blank line, when it is complete.
    private static func headLength(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard let base = bytes.baseAddress else { return nil }
            let n = bytes.count
            var i = 0
            while i < n {
                guard let found = memchr(base + i, Int32(UInt8(ascii: "\n")), n - i) else { return nil }
                let lf = base.distance(to: UnsafeRawPointer(found))
                // A blank line: "\n\n" or "\n\r\n".
                if lf + 1 < n, bytes[lf + 1] == UInt8(ascii: "\n") { return lf + 2 }
                if lf + 2 < n, bytes[lf + 1] == UInt8(ascii: "\r"), bytes[lf + 2] == UInt8(ascii: "\n") {
                    return lf + 3
                }
                i = lf + 1
            }
            return nil
        }
    }

    /// Reads a head; nil for an interim (1xx) response, which the real one follows.
    private mutating func parseHead(_ head: ByteBuffer) throws -> Event? {
        var status = 0
        var minor = 1
        var contentLength: Int?
        var chunked = false
        var transferEncoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var headers: ResponseHeaders? = keepHeaders ? ResponseHeaders() : nil
        var coding = ContentCoding.identity
        var location: String?
        try head.withUnsafeReadableBytes { bytes in
            var lines = Lines(bytes: bytes)
            guard let statusLine = lines.next() else { throw Error(code: .badStatusLine) }
            (status, minor) = try Self.statusLine(bytes[statusLine])
            while let range = lines.next(), !range.isEmpty {
                let line = bytes[range]
                guard let found = memchr(bytes.baseAddress! + range.lowerBound, Int32(UInt8(ascii: ":")), line.count),
                    case let colon = bytes.baseAddress!.distance(to: UnsafeRawPointer(found)),
                    colon > range.lowerBound
                else { throw Error(code: .badHeader) }
                let name = bytes[range.lowerBound..<colon]
                var v = colon + 1
                var end = range.upperBound
                // RFC 9110 §5.1, §5.5: a name of token characters, a value without control characters. A header
                // outside them is refused, as llhttp and Go's net/http refuse it: read leniently, "Content-Length :"
                // would be ignored and the body framed differently from how the server meant it.
                for b in name where !Self.isTokenByte(b) { throw Error(code: .badHeader) }
                for b in bytes[v..<end] where !Self.isFieldByte(b) { throw Error(code: .badHeader) }
                while v < end, bytes[v] == UInt8(ascii: " ") || bytes[v] == UInt8(ascii: "\t") { v += 1 }
                while end > v, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
                let value = bytes[v..<end]
                if Self.equalsLowercase(name, "content-length") {
                    guard let n = Self.decimal(value), contentLength == nil || contentLength == n else {
                        throw Error(code: .badContentLength)
                    }
                    contentLength = n
                } else if Self.equalsLowercase(name, "transfer-encoding") {
                    transferEncoding = true
                    // Field lines combine into one list (RFC 9110 §5.6.1): a line with no coding leaves the last one
                    // as it was (`chunked` then a blank line was read as not chunked; found by the differential
                    // fuzzer, llhttp agrees).
                    chunked = try Self.lastCoding(value).map { Self.equalsLowercase($0, "chunked") } ?? chunked
                } else if status >= 300, status < 400, Self.equalsLowercase(name, "location") {
                    location = String(decoding: value, as: UTF8.self)
                } else if Self.equalsLowercase(name, "content-encoding") {
                    coding = ContentCoding.named(value)
                } else if Self.equalsLowercase(name, "connection") {
                    if Self.containsToken(value, "close") { connectionClose = true }
                    if Self.containsToken(value, "keep-alive") { connectionKeepAlive = true }
                }
                if headers != nil {
                    headers!.add(
                        name: String(decoding: name, as: UTF8.self),
                        value: String(decoding: value, as: UTF8.self)
                    )
                }
            }
        }
        // Both framings at once is how responses are smuggled (RFC 9112 §6.3: "ought to be handled as an error"). A
        // blank Transfer-Encoding line counts: llhttp then frames by Content-Length, RFC 9112 §6.3 by the empty list.
        if transferEncoding, contentLength != nil { throw Error(code: .badContentLength) }
        // 101 answers an Upgrade, which Preflight never asks for: after it the connection speaks something else.
        if status == 101 { throw Error(code: .badStatusLine) }
        if (100..<200).contains(status) {
            // HTTP/1.0 has no interim responses: one would end its connection (llhttp refuses what follows).
            guard minor >= 1 else { throw Error(code: .badStatusLine) }
            if connectionClose { closedByInterim = true }
            return nil  // an interim response: the real one follows
        }
        var keepAlive = minor >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose
        if noBody || status == 204 || status == 304 {
            state = .ending
        } else if chunked {
            state = .chunkSize
        } else if transferEncoding {
            // A coding without chunked last: the body runs to the close (RFC 9112 §6.3).
            keepAlive = false
            state = .untilClose
        } else if let contentLength {
            state = contentLength == 0 ? .ending : .fixed(remaining: contentLength)
        } else {
            keepAlive = false
            state = .untilClose
        }
        return .head(status: status, keepAlive: keepAlive, headers: headers, coding: coding, location: location)
    }

    /// `HTTP/1.x NNN reason`: the status and the minor version.
    private static func statusLine(_ line: Slice<UnsafeRawBufferPointer>) throws -> (Int, Int) {
        guard line.count >= 12 else { throw Error(code: .badStatusLine) }
        let s = line.startIndex
        let b = line.base
        let prefix: StaticString = "HTTP/1."
        for k in 0..<7 where b[s + k] != prefix.utf8Start[k] { throw Error(code: .badStatusLine) }
        // HTTP/1.0 or HTTP/1.1 (RFC 9112 §2.3): a minor version that does not exist is not an answer to read.
        guard b[s + 7] == UInt8(ascii: "0") || b[s + 7] == UInt8(ascii: "1"), b[s + 8] == UInt8(ascii: " ") else {
            throw Error(code: .badStatusLine)
        }
        var status = 0
        for k in 9..<12 {
            guard isDigit(b[s + k]) else { throw Error(code: .badStatusLine) }
            status = status * 10 + Int(b[s + k] - UInt8(ascii: "0"))
        }
        // RFC 9110 §15: status codes are 100–599; anything else is not HTTP (a 999 is not a server error).
        guard status >= 100, status <= 599, line.count == 12 || b[s + 12] == UInt8(ascii: " ") else {
            throw Error(code: .badStatusLine)
        }
        // The reason phrase carries nothing; as llhttp, only a CR that ends no line is refused in it.
        for k in line.startIndex + 12..<line.endIndex where b[k] == UInt8(ascii: "\r") {
            throw Error(code: .badStatusLine)
        }
        return (status, Int(b[s + 7] - UInt8(ascii: "0")))
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// A trailer field is a header field (RFC 9112 §7.1.2): a token, a colon, a value without control characters.
    private static func checkTrailer(_ line: ByteBuffer) throws {
        let bytes = line.readableBytesView
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > bytes.startIndex,
            bytes[..<colon].allSatisfy(isTokenByte), bytes[(colon + 1)...].allSatisfy(isFieldByte)
        else { throw Error(code: .badChunk) }
        // A sender must not put framing in trailers (RFC 9110 §6.5.1); a Content-Length there is refused, as llhttp
        // refuses it, since it contradicts the chunked framing just read.
        if String(decoding: bytes[..<colon], as: UTF8.self).lowercased() == "content-length" {
            throw Error(code: .badChunk)
        }
    }

    /// RFC 9110 §5.6.2 `tchar`, as two bit masks over ASCII: one shift and test per byte, no table to load.
    @inline(__always)
    private static func isTokenByte(_ b: UInt8) -> Bool {
        // ! # $ % & ' * + - . 0-9 (0x21–0x3F) and A-Z ^ _ ` a-z | ~ (0x40–0x7F).
        let low: UInt64 = 0x03FF_6CFA_0000_0000
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE
        return b < 64 ? (low >> UInt64(b)) & 1 == 1 : b < 128 && (high >> UInt64(b - 64)) & 1 == 1
    }

    /// A byte of a field value or a reason phrase (RFC 9110 §5.5): tab, space, visible ASCII and obs-text.
    @inline(__always)
    private static func isFieldByte(_ b: UInt8) -> Bool { b >= 0x20 ? b != 0x7F : b == UInt8(ascii: "\t") }

    /// A non-negative decimal of at most 18 significant digits. Leading zeros are allowed (RFC 9110's `1*DIGIT`, as
    /// llhttp reads it: `0000000000000000015` is 15; found by the differential fuzzer on an interim answer's head).
    private static func decimal(_ bytes: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        let significant = bytes.drop { $0 == UInt8(ascii: "0") }
        guard significant.count <= 18 else { return nil }
        var n = 0
        for d in significant {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { return nil }
            n = n * 10 + Int(d - UInt8(ascii: "0"))
        }
        return n
    }

    /// A chunk size in hex; its extensions are skipped.
    private static func chunkSize(_ line: ByteBuffer) throws -> Int {
        var n = 0
        var digits = 0
        let bytes = line.readableBytesView
        for (i, b) in zip(bytes.indices, bytes) {
            let v: Int
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = Int(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = Int(b - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = Int(b - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"):
                // No blank between the size and its extensions, as llhttp (strict) and RFC 9112's grammar.
                guard digits > 0, validExtensions(bytes[i...]) else { throw Error(code: .badChunk) }
                return n
            default: throw Error(code: .badChunk)
            }
            digits += 1
            guard digits <= 15 else { throw Error(code: .badChunk) }
            n = n * 16 + v
        }
        guard digits > 0 else { throw Error(code: .badChunk) }
        return n
    }

    /// Chunk extensions mean nothing to Preflight and are skipped, as Go's net/http skips them; only a control
    /// character in them is refused (a stray CR there is how a chunk's framing is disguised).
    private static func validExtensions(_ ext: ByteBufferView.SubSequence) -> Bool { ext.allSatisfy(isFieldByte) }

    private static func equalsLowercase(_ bytes: Slice<UnsafeRawBufferPointer>, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return zip(bytes, expected).allSatisfy { lowercased($0) == $1 }
    }

    /// The last coding of a `Transfer-Encoding` line; nil for a blank line. A line with an empty element (`chunked,`,
    /// `,,`) is refused: RFC 9110 §5.6.1 would ignore the empty elements (`chunked`; `,,` adds nothing), llhttp reads
    /// such a line as not chunked, and two readings of the framing are how responses are smuggled (found by the
    /// differential fuzzer; as Content-Length beside Transfer-Encoding, neither reading is guessed).
    private static func lastCoding(
        _ value: Slice<UnsafeRawBufferPointer>
    ) throws -> Slice<UnsafeRawBufferPointer>? {
        var last: Slice<UnsafeRawBufferPointer>?
        var elements = 0
        var empty = false
        forEachToken(value) {
            elements += 1
            if $0.isEmpty { empty = true } else { last = $0 }
        }
        // A blank line is one empty element, no coding; an empty element among others is refused.
        if empty, elements > 1 { throw Error(code: .badHeader) }
        return last
    }

    /// Whether a comma-separated header value holds `token` (case-insensitive).
    private static func containsToken(_ value: Slice<UnsafeRawBufferPointer>, _ token: StaticString) -> Bool {
        var found = false
        forEachToken(value) { if equalsLowercase($0, token) { found = true } }
        return found
    }

    /// The comma-separated elements of a header value, without surrounding blanks, empty ones too.
    private static func forEachToken(
        _ value: Slice<UnsafeRawBufferPointer>,
        _ body: (Slice<UnsafeRawBufferPointer>) -> Void
    ) {
        var start = value.startIndex
        while start <= value.endIndex {
            var end = start
            while end < value.endIndex, value.base[end] != UInt8(ascii: ",") { end += 1 }
            var a = start
            var z = end
            while a < z, isBlank(value.base[a]) { a += 1 }
            while z > a, isBlank(value.base[z - 1]) { z -= 1 }
            body(value.base[a..<z])
            start = end + 1
        }
    }

    private static func isBlank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }

    /// ASCII letters lowercased; every other byte as it is.
    private static func lowercased(_ b: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) ? b | 0x20 : b
    }

    /// Line ranges of a head; a line break is LF with an optional CR before it.
    private struct Lines {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        mutating func next() -> Range<Int>? {
            guard position < bytes.count else { return nil }
            let start = position
            guard let base = bytes.baseAddress,
                let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start)
            else {
                position = bytes.count
                return start..<bytes.count
            }
            let lf = base.distance(to: UnsafeRawPointer(found))
            position = lf + 1
            let end = lf > start && bytes[lf - 1] == UInt8(ascii: "\r") ? lf - 1 : lf
            return start..<end
        }
    }
}
