import CZlib
import Foundation
import NIOCore
import PreflightCore
import PreflightKit

extension Differential {
    /// What a journey does with an answer after parsing it (#31's "new decoders join the same targets"): decode a
    /// gzip/deflate body within its size bound, store its `Set-Cookie` fields, follow its `Location`. Run by the
    /// `http1` target on every answer our parser reads to its end. zlib and Foundation's `URL` do the decoding and
    /// the resolving (maintained code, not ours to compare), so these are the properties our code around them must
    /// keep, on any bytes a server sends.
    static func journey(_ bytes: [UInt8], isHead: Bool) -> [String] {
        var parser = HTTPResponseParser()
        parser.expectResponse(isHead: isHead, keepHeaders: true)
        var status: Int?
        var headers = ResponseHeaders()
        var coding = ContentCoding.identity
        var location: String?
        var body: [UInt8] = []
        var complete = false
        func take(_ event: HTTPResponseParser.Event) {
            switch event {
            case .head(let s, _, let h, let c, let l):
                (status, coding, location) = (s, c, l)
                headers = h ?? ResponseHeaders()
            case .body(let part): body += part.readableBytesView
            case .end: complete = true
            }
        }
        do {
            parser.append(ByteBuffer(bytes: bytes))
            while let event = try parser.next() { take(event) }
            if let event = try parser.closed() { take(event) }
        } catch {
            return []
        }
        guard complete, let status else { return [] }
        var broken = decoding(body, coding)
        broken += cookies(headers["set-cookie"])
        if let location { broken += redirect(location, status: status) }
        return broken
    }

    /// The body decoder never goes past its limit, and the limit changes nothing but where it stops: a body that
    /// decodes within it decodes the same without it. Any body, compressed by zlib in each format, decodes back.
    static func decoding(_ body: [UInt8], _ coding: ContentCoding) -> [String] {
        var broken: [String] = []
        let limit = 1024
        if coding == .gzip || coding == .deflate {
            let bounded = ContentDecoder.decode(body, coding: coding, limit: limit)
            let unbounded = ContentDecoder.decode(body, coding: coding, limit: 1 << 26)
            switch (bounded, unbounded) {
            case (.success(let b), _) where b.count > limit:
                broken.append("decoded \(b.count) B past its \(limit) B limit")
            case (.success(let b), .success(let u)) where b != u:
                broken.append("decoded \(b.count) B within the limit, \(u.count) B without")
            case (.success, .failure(let f)):
                broken.append("decoded within the limit, \(f) without")
            case (.failure(.tooLarge), .success(let u)) where u.count <= limit:
                broken.append("too large for \(limit) B, but \(u.count) B without the limit")
            case (.failure(.corrupt), .success), (.failure(.corrupt), .failure(.tooLarge)):
                broken.append("corrupt within the limit, \(unbounded) without")
            default: break
            }
        }
        guard body.count <= 4096 else { return broken }
        for (format, windowBits) in [(ContentCoding.gzip, Int32(31)), (.deflate, 15), (.deflate, -15)] {
            let packed = compressed(body, windowBits: windowBits)
            if ContentDecoder.decode(packed, coding: format, limit: body.count) != .success(body) {
                broken.append("\(format) (window bits \(windowBits)) of \(body.count) B did not decode back")
            }
            if !body.isEmpty,
                ContentDecoder.decode(packed, coding: format, limit: body.count - 1)
                    != .failure(.tooLarge(limit: body.count - 1))
            {
                broken.append("\(format) of \(body.count) B decoded within a limit 1 B smaller")
            }
        }
        return broken
    }

    /// Compresses with zlib: `windowBits` 31 is gzip, 15 the zlib format (HTTP's `deflate`), -15 raw deflate. The input
    /// is `repeats` copies of `chunk`, fed one at a time, so a large bomb is made without holding it.
    public static func compressed(_ chunk: [UInt8], repeats: Int = 1, windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        precondition(
            deflateInit2_(
                &stream,
                9,
                Z_DEFLATED,
                windowBits,
                8,
                Z_DEFAULT_STRATEGY,
                ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)
            ) == Z_OK
        )
        defer { deflateEnd(&stream) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        for k in 0..<repeats {
            let flush = k == repeats - 1 ? Z_FINISH : Z_NO_FLUSH
            chunk.withUnsafeBufferPointer { input in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                var status: Int32
                repeat {
                    status = buffer.withUnsafeMutableBufferPointer { b in
                        stream.next_out = b.baseAddress
                        stream.avail_out = uInt(b.count)
                        return deflate(&stream, flush)
                    }
                    out.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                } while stream.avail_out == 0 || (flush == Z_FINISH && status != Z_STREAM_END)
            }
        }
        return out
    }

    /// A jar fed any `Set-Cookie` fields never sends a cookie to another site, never sends one set without `Domain`
    /// to a subdomain, never puts a byte in `Cookie` that a header cannot carry, and reads a plain `name=value`
    /// back as it was stored.
    static func cookies(_ fields: [String]) -> [String] {
        guard !fields.isEmpty else { return [] }
        let now = 1_800_000_000.0
        let host = "app.example.com"
        var broken: [String] = []
        var jar = CookieJar()
        for field in fields { jar.store(field, host: host, path: "/a/b", now: now) }
        for other in ["example.net", "app.example.com.evil.test", "ample.com", "le.com", "127.0.0.1"] {
            if let sent = jar.header(host: other, path: "/", secure: true, now: now) {
                broken.append("cookies for \(host) sent to \(other): \(sent.debugDescription)")
            }
        }
        if !fields.contains(where: { $0.lowercased().contains("domain") }),
            let sent = jar.header(host: "sub." + host, path: "/a/b", secure: true, now: now)
        {
            broken.append("host-only cookies sent to a subdomain: \(sent.debugDescription)")
        }
        for (h, p) in [(host, "/a/b"), (host, "/"), ("www.example.com", "/"), ("example.com", "/x")] {
            if let sent = jar.header(host: h, path: p, secure: true, now: now),
                !sent.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) })
            {
                broken.append("a Cookie header with a control byte: \(sent.debugDescription)")
            }
        }
        for field in fields {
            guard let (name, value) = CookieJar.nameAndValue(field) else { continue }
            var plain = CookieJar()
            plain.store("\(name)=\(value)", host: host, path: "/a/b", now: now)
            let sent = plain.header(host: host, path: "/a/b", secure: false, now: now)
            if sent != "\(name)=\(value)" {
                broken.append(
                    "\("\(name)=\(value)".debugDescription) stored, \(sent.debugDescription) sent back"
                )
            }
        }
        return broken
    }

    /// A followed `Location` stays on the target's origin and below its base path, with no dot segment left (also
    /// percent-encoded), and as a request line can carry it; a plain absolute path is followed as it is.
    static func redirect(_ location: String, status: Int) -> [String] {
        let target = TargetURL(scheme: "http", host: "127.0.0.1", port: 8080, basePath: "/api")
        let request = RequestMessage(method: "GET", path: "/v1/items/7?x=1")
        let next = Redirect.next(after: request, status: status, location: location, target: target)
        var broken: [String] = []
        if let next {
            let full = target.basePath + next.path
            if !next.path.hasPrefix("/") { broken.append("followed to \(next.path.debugDescription), not a path") }
            if !full.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) {
                broken.append("followed to \(full.debugDescription), which a request line cannot carry")
            }
            let path = full.prefix { $0 != "?" }
            let segments = path.split(separator: "/", omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "%2e", with: ".").replacingOccurrences(of: "%2E", with: ".")
            }
            if segments.contains(".") || segments.contains("..") {
                broken.append("followed to \(full.debugDescription), with a dot segment left")
            }
            if full != "/api", !full.hasPrefix("/api/"), !full.hasPrefix("/api?") {
                broken.append("followed to \(full.debugDescription), outside the base path")
            }
        }
        // The common case needs no resolver: an absolute path of plain characters is followed as it is.
        let plain = location.prefix { $0 != "#" }
        if Redirect.statuses.contains(status), plain.hasPrefix("/api/"),
            plain.utf8.allSatisfy({ b in
                (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) || "/_-~?=&".utf8.contains(b)
            }),
            !plain.split(separator: "/").contains(where: { $0.allSatisfy { $0 == "." } })
        {
            let expected = String(plain.dropFirst(4))
            if next?.path != expected {
                broken.append(
                    "\(location.debugDescription) followed to \(String(describing: next?.path)), not \(expected)"
                )
            }
        }
        return broken
    }
}
