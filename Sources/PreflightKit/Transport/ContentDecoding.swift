import CZlib
import PreflightCore

/// A response body's `Content-Encoding`, as far as Preflight decodes it.
package enum ContentCoding: Sendable, Equatable {
    case identity
    case gzip
    case deflate
    /// Anything else (`br`, `zstd`, a list of codings): left as it came; checks see the encoded bytes.
    case other

    /// The coding a `Content-Encoding` value names (case-insensitive; `x-gzip` is gzip, RFC 9110 §8.4.1.3).
    package static func named(_ value: some Collection<UInt8>) -> ContentCoding {
        let name = String(decoding: value, as: UTF8.self).lowercased()  // the parser trimmed the blanks
        switch name {
        case "", "identity": return .identity
        case "gzip", "x-gzip": return .gzip
        case "deflate": return .deflate
        default: return .other
        }
    }
}

extension HTTPOutcome {
    /// Decodes a gzip or deflate body for the checks and captures (`data_received` stays the wire bytes), both
    /// transports' last step. A body cut at `limit` on the wire cannot be decoded and is left out, as a truncated
    /// body; one that fails to decode, or would decode past `limit`, is error class `decode`.
    mutating func decodeBody(_ coding: ContentCoding, limit: Int) {
        guard coding != .identity, let encoded = body else { return }
        guard !bodyTruncated else {
            body = nil
            return
        }
        switch ContentDecoder.decode(encoded, coding: coding, limit: limit) {
        case .success(let decoded): body = decoded
        case .failure:
            body = nil
            error = .decode
        }
    }
}

/// Decodes gzip and deflate bodies through zlib, never past a size limit: a small body that inflates to
/// gigabytes (a decompression bomb) stops at the limit and is a decode error, not an exhausted memory.
package enum ContentDecoder {
    package enum Failure: Error, Equatable {
        /// The decoded body would be larger than the limit.
        case tooLarge(limit: Int)
        /// Not valid gzip/deflate data, or cut short.
        case corrupt
    }

    /// The decoded body. `deflate` is the zlib format (RFC 9110 §8.4.1.2); a raw deflate stream, which some servers
    /// send instead, is accepted too, as browsers and curl do.
    package static func decode(_ body: [UInt8], coding: ContentCoding, limit: Int) -> Result<[UInt8], Failure> {
        switch coding {
        case .identity, .other: return .success(body)
        case .gzip: return inflate(body, windowBits: 15 + 16, limit: limit)
        case .deflate:
            let zlib = inflate(body, windowBits: 15, limit: limit)
            if case .failure(.corrupt) = zlib { return inflate(body, windowBits: -15, limit: limit) }
            return zlib
        }
    }

    private static func inflate(_ input: [UInt8], windowBits: Int32, limit: Int) -> Result<[UInt8], Failure> {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .failure(.corrupt)
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status: Int32 = Z_OK
        var tooLarge = false
        input.withUnsafeBufferPointer { inBuffer in
            stream.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
            stream.avail_in = uInt(inBuffer.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > limit {
                    tooLarge = true
                    return
                }
                output.append(contentsOf: chunk[0..<produced])
            } while status == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        if tooLarge { return .failure(.tooLarge(limit: limit)) }
        // Anything but the stream's end is a data error, or input that ended before the stream did.
        return status == Z_STREAM_END ? .success(output) : .failure(.corrupt)
    }
}
