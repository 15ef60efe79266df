import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /api/v1/features/quant/{symbol}` (cached, keyed on the newest bar) and `GET /api/v1/bars/{symbol}`.
struct MarketDataController {
    let store: MarketStore
    let cache: FeatureCache
    let metrics: APIMetrics

    func addRoutes(to api: RouterGroup<BasicRequestContext>) {
        let store = store
        let cache = cache
        let metrics = metrics
        api.get("features/quant/{symbol}") { _, context in
            let symbol = try context.parameters.require("symbol")
            guard isValidSymbol(symbol[...]) else { throw APIError.badSymbol(symbol) }
            guard let newest = try await store.newestBar(symbol) else {
                throw try await store.hasSymbol(symbol)
                    ? APIError(.notFound, "no_bars", "no bars stored for \(symbol) yet")
                    : APIError.unknownSymbol(symbol)
            }
            let (body, hit) = try await cache.value(for: .init(symbol: symbol, newestBar: newest)) {
                let read = ContinuousClock.now
                let bars = try await store.recentBars(symbol, limit: QuantFeatures.window)
                let computed = ContinuousClock.now
                metrics.database("recent_bars", duration: computed - read)
                let body = featuresBody(symbol: symbol, bars: bars)
                metrics.featureComputation(duration: ContinuousClock.now - computed)
                return body
            }
            metrics.cache(hit: hit)
            return JSONText.response(body, extra: [HTTPField.Name("X-Cache")!: hit ? "HIT" : "MISS"])
        }
        api.get("bars/{symbol}") { request, context in
            let symbol = try context.parameters.require("symbol")
            guard isValidSymbol(symbol[...]) else { throw APIError.badSymbol(symbol) }
            let query = request.uri.queryParameters
            for key in ["from", "to"] {
                if let v = query[key[...]], !isValidDate(v) {
                    throw APIError(.badRequest, "bad_date", "\(key) must be a date YYYY-MM-DD, got \"\(v.prefix(40))\"")
                }
            }
            var known = try await store.hasSymbol(symbol)
            if !known { known = try await store.newestBar(symbol) != nil }
            guard known else {
                throw APIError.unknownSymbol(symbol)
            }
            let bars = try await store.bars(
                symbol,
                from: query["from"].map(String.init),
                to: query["to"].map(String.init)
            )
            var body = #"{"symbol":"\#(symbol)","bars":["#
            for (i, b) in bars.enumerated() {
                if i > 0 { body += "," }
                body +=
                    #"{"date":"\#(b.date)","open":\#(b.open),"high":\#(b.high),"low":\#(b.low),"close":\#(b.close),"volume":\#(b.volume)}"#
            }
            return JSONText.response(body + "]}")
        }
    }
}
