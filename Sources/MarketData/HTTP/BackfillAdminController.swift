import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The scheduler's admin endpoints: `scheduler-health`, `backfill/runs`, `backfill/symbols`, `backfill/attempts`,
/// `backfill/runs/{id}`, `rate-limits` and `POST backfill`.
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
        admin.get("backfill/runs/{id}") { _, context in
            let text = context.parameters.get("id") ?? ""
            guard let id = Int64(text), id > 0 else {
                throw APIError(
                    .badRequest,
                    "bad_run_id",
                    "a run id is a positive whole number, got \"\(text.prefix(40))\""
                )
            }
            guard let run = try await store.run(id) else {
                throw APIError(.notFound, "unknown_run", "no backfill run \(id)")
            }
            let finished = MarketStore.finishedRunStatuses.contains(run.status)
            let symbols = finished ? try await store.runSymbols(id) : []
            return try encodeJSON(RunAnswer(run: run, finished: finished, symbols: symbols))
        }
        admin.post("backfill") { _, _ in
            guard let scheduler else {
                throw APIError(
                    .serviceUnavailable,
                    "scheduler_disabled",
                    "no provider is configured (serve --provider URL)"
                )
            }
            let id = try await scheduler.trigger()
            var response = JSONText.response(#"{"runId":\#(id),"status":"queued"}"#, status: .accepted)
            response.headers[.location] = "/api/v1/admin/backfill/runs/\(id)"
            return response
        }
    }
}

/// `GET /api/v1/admin/backfill/runs/{id}`: the run's row, whether it has ended, and (once it has) how each symbol
/// went with its newest stored bar.
struct RunAnswer: Encodable {
    var run: MarketStore.RunRow
    /// The status will not change any more (`ok`, `partial`, `failed`, `interrupted`, `paused`).
    var finished: Bool
    var symbols: [MarketStore.RunSymbolRow]

    func encode(to encoder: any Encoder) throws {
        try run.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(finished, forKey: .finished)
        try c.encode(symbols, forKey: .symbols)
    }

    enum Keys: String, CodingKey { case finished, symbols }
}
