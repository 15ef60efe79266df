import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus

/// `GET /livez`, `/readyz` and `/metrics`: liveness, readiness (the database answers, migrations applied) and the
/// Prometheus text.
struct HealthController {
    let store: MarketStore
    let metrics: APIMetrics

    func addRoutes(to router: Router<BasicRequestContext>) {
        let store = store
        let metrics = metrics
        router.get("livez") { _, _ in JSONText.response(#"{"status":"ok"}"#) }
        router.get("readyz") { _, _ in
            await store.isReady()
                ? JSONText.response(#"{"status":"ready"}"#)
                : JSONText.response(#"{"status":"not ready"}"#, status: .serviceUnavailable)
        }

        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer()))
            )
        }
    }
}
