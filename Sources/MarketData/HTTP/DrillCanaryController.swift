import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The drill canary (SPEC §5): `POST /api/v1/admin/drill/canary` stores a write durably before answering,
/// `GET …?from=SEQ` lists what is stored.
struct DrillCanaryController {
    let store: MarketStore
    let maxBodyBytes: Int

    func addRoutes(to admin: RouterGroup<BasicRequestContext>) {
        let store = store
        let maxBody = maxBodyBytes
        admin.post("drill/canary") { request, _ in
            var request = request
            let data: ByteBuffer
            do {
                data = try await request.collectBody(upTo: maxBody)
            } catch {
                throw APIError(.contentTooLarge, "body_too_large", "request bodies are limited to \(maxBody) bytes")
            }
            struct Canary: Decodable {
                var seq: Int
                var writtenAt: String
            }
            guard let canary = try? JSONDecoder().decode(Canary.self, from: Data(data.readableBytesView)) else {
                throw APIError(.badRequest, "bad_body", "expected {\"seq\": integer, \"writtenAt\": string}")
            }
            let inserted = try await store.writeCanary(seq: canary.seq, writtenAt: canary.writtenAt)
            return JSONText.response(
                #"{"seq":\#(canary.seq),"stored":true,"duplicate":\#(!inserted)}"#,
                status: inserted ? .created : .ok
            )
        }
        admin.get("drill/canary") { request, _ in
            let fromText = request.uri.queryParameters["from"]
            guard let from = fromText.map({ Int($0) }) ?? 0 else {
                throw APIError(.badRequest, "bad_seq", "from must be an integer")
            }
            let rows = try await store.canary(from: from)
            let items = rows.map {
                #"{"seq":\#($0.seq),"writtenAt":"\#(JSONText.escape($0.writtenAt))","receivedAt":"\#($0.receivedAt)"}"#
            }
            return JSONText.response(#"{"canary":[\#(items.joined(separator: ","))]}"#)
        }
    }
}
