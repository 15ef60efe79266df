import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The scheduler's admin endpoints: `scheduler-health`, `backfill/runs`, `backfill/symbols`, `backfill/attempts`,
/// `rate-limits` and `POST backfill`.
struct BackfillAdminController {
    let store: MarketStore
    /// Nil without `--provider`: health answers `disabled`, a trigger 503.
    let scheduler: AutoBackfillScheduler?

    func addRoutes(to admin: RouterGroup<BasicRequestContext>) {
        let store = store
        let scheduler = scheduler
        admin.get("scheduler-health") { _, _ in
            // No scheduler is a configuration, not a fault: a health check on any `serve` answers 200 (SPEC §10).
            guard let scheduler else {
                return JSONText.response(
                    #"{"status":"disabled","state":"disabled","reasons":["no provider is configured (serve --provider URL)"]}"#
                )
            }
            return try encodeJSON(await scheduler.health())
        }
        admin.get("backfill/runs") { _, _ in try encodeJSON(["runs": try await store.runs()]) }
        admin.get("backfill/symbols") { _, _ in
            var rows = try await store.symbolStatuses()
            // `openGaps` is what is missing now, not what the last run left: a bar deleted since then counts at once.
            if let scheduler {
                let missing = try await scheduler.missingTradingDays()
                for i in rows.indices { rows[i].openGaps = missing[rows[i].symbol] ?? rows[i].openGaps }
            }
            return try encodeJSON(["symbols": rows])
        }
        admin.get("backfill/attempts") { request, _ in
            let query = request.uri.queryParameters
            let symbol = query["symbol"].map(String.init)
            if let symbol, !isValidSymbol(symbol[...]) { throw APIError.badSymbol(symbol) }
            var limit = 100
            if let text = query["limit"] {
                guard let n = Int(text), (1...1000).contains(n) else {
                    throw APIError(.badRequest, "bad_limit", "limit must be a whole number from 1 to 1000")
                }
                limit = n
            }
            return try encodeJSON(["attempts": try await store.attempts(symbol: symbol, limit: limit)])
        }
        admin.get("rate-limits") { _, _ in try encodeJSON(["events": try await store.rateLimitEvents()]) }
        admin.post("backfill") { _, _ in
            guard let scheduler else {
                throw APIError(
                    .serviceUnavailable,
                    "scheduler_disabled",
                    "no provider is configured (serve --provider URL)"
                )
            }
            guard await scheduler.trigger() else {
                throw APIError(.conflict, "run_in_progress", "a backfill run is in progress; runs never overlap")
            }
            return JSONText.response(#"{"triggered":true}"#, status: .accepted)
        }
    }
}
