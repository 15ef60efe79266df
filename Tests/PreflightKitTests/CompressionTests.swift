import Foundation
import Hummingbird
import PreflightFuzzing
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Compresses with zlib (the fuzz targets' compressor, one implementation for both).
func compressed(_ chunk: [UInt8], repeats: Int = 1, windowBits: Int32) -> [UInt8] {
    Differential.compressed(chunk, repeats: repeats, windowBits: windowBits)
}

struct ContentDecoderTests {
    let json = Array(#"{"symbol":"AAPL","features":{"rsi":55.1}}"#.utf8)

    @Test(arguments: [(ContentCoding.gzip, Int32(31)), (.deflate, 15), (.deflate, -15)])
    func gzipZlibAndRawDeflateDecode(coding: ContentCoding, windowBits: Int32) {
        let body = compressed(json, windowBits: windowBits)
        #expect(ContentDecoder.decode(body, coding: coding, limit: 1 << 20) == .success(json))
    }

    @Test func aBombStopsAtTheLimitWithoutDecodingTheRest() {
        // 100 MB of zeros, about 100 kB compressed; decoding stops a chunk past the 1 MiB limit.
        let bomb = compressed([UInt8](repeating: 0, count: 1 << 20), repeats: 100, windowBits: 31)
        #expect(bomb.count < 200_000)
        #expect(ContentDecoder.decode(bomb, coding: .gzip, limit: 1 << 20) == .failure(.tooLarge(limit: 1 << 20)))
    }

    @Test func corruptAndCutShortBodiesAreDecodeFailures() {
        let body = compressed(json, windowBits: 31)
        #expect(
            ContentDecoder.decode(Array(body.prefix(body.count - 6)), coding: .gzip, limit: 1 << 20)
                == .failure(.corrupt)
        )
        #expect(ContentDecoder.decode(json, coding: .gzip, limit: 1 << 20) == .failure(.corrupt))
    }

    @Test func codingsAreNamedCaseInsensitively() {
        #expect(ContentCoding.named(Array("GZIP".utf8)) == .gzip)
        #expect(ContentCoding.named(Array("x-gzip".utf8)) == .gzip)
        #expect(ContentCoding.named(Array("Deflate".utf8)) == .deflate)
        #expect(ContentCoding.named(Array("br".utf8)) == .other)
        #expect(ContentCoding.named(Array("identity".utf8)) == .identity)
    }
}

extension Serial {
    @Suite struct CompressionLiveTests {
        static let json = Array(
            #"{"symbol":"AAPL","features":{"rsi":55.1},"pad":"\#(String(repeating: "x", count: 2000))"}"#.utf8
        )

        static func answer(_ bytes: [UInt8], _ coding: String) -> Response {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.contentEncoding] = coding
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }

        static func router() -> Router<BasicRequestContext> {
            let router = Router()
            let gz = compressed(json, windowBits: 31)
            let zl = compressed(json, windowBits: 15)
            let bomb = compressed([UInt8](repeating: UInt8(ascii: " "), count: 1 << 20), repeats: 10, windowBits: 31)
            router.get("/gz") { _, _ in Self.answer(gz, "gzip") }
            router.get("/df") { _, _ in Self.answer(zl, "deflate") }
            router.get("/bomb") { _, _ in Self.answer(bomb, "gzip") }
            router.get("/broken") { _, _ in Self.answer(Array("not gzip".utf8), "gzip") }
            return router
        }

        @Test func gzipAndDeflateBodiesPassJSONChecksAndABombIsADecodeError() async throws {
            try await withTestServer(Self.router()) { port in
                let s = try scenario(
                    """
                    { "name": "gz", "target": { "baseURL": "http://127.0.0.1:${PORT}" },
                      "transport": { "mode": "real" },
                      "requests": [
                        { "name": "gz", "path": "/gz", "checks": [ { "json": "$.symbol", "equals": "AAPL" } ] },
                        { "name": "df", "path": "/df", "checks": [ { "json": "$.features.rsi", "equals": 55.1 } ] },
                        { "name": "bomb", "path": "/bomb", "checks": [ { "bodyContains": "x" } ] },
                        { "name": "broken", "path": "/broken", "checks": [ { "bodyContains": "gzip" } ] }
                      ],
                      "load": { "executor": "shared-iterations", "vus": 2, "iterations": 12 } }
                    """,
                    port: port
                )
                let result = try await runScenario(s)
                let r = result.metrics.requests
                #expect(r[0].checksPassed == [3] && r[0].checksFailed == [0])
                #expect(r[1].checksPassed == [3] && r[1].checksFailed == [0])
                #expect(r[2].errors[ErrorClass.decode.rawValue] == 3)
                #expect(r[3].errors[ErrorClass.decode.rawValue] == 3)
                // data_received counts the wire: the compressed answer, far smaller than the 2 kB it decodes to.
                #expect(r[0].bytesIn < 3 * Self.json.count)
                #expect(r[2].bytesIn < 3 * 100_000)
            }
        }
    }
}
