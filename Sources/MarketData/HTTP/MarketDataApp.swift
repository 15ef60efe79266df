import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// How the reference API is set up; built once and passed down.
public struct MarketDataConfiguration: Sendable {
    /// Loopback by default.
    public var host = "127.0.0.1"
    public var port = 8000
    /// The store: a SQLite file (created with its folder when missing) or a PostgreSQL database.
    public var database: StoreLocation
    /// Symbols the API knows (and, with `demoData`, fills).
    public var symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA"]
    /// When set, every `/api/v1/admin/*` route needs `Authorization: Bearer <token>`.
    public var adminToken: String?
    /// Feature responses kept in memory (0 disables the cache).
    public var cacheCapacity = 256
    /// How long a cached feature response may be served.
    public var cacheTTL: Duration = .seconds(60)
    /// Fill the symbols with two years of deterministic synthetic bars at start.
    public var demoData = false
    /// Request bodies larger than this are refused with 413.
    public var maxBodyBytes = 64 * 1024
    /// The upstream provider's base URL; nil runs without the backfill scheduler.
    public var providerURL: String?
    /// The provider's key, sent as `Authorization: Bearer` (never logged).
    public var providerAPIKey: String?
    /// The provider's rate limit when known up front (it is also learned from its headers).
    public var providerRateLimit: (count: Int, window: Duration)?
    /// Backfill options (symbols are filled in from `symbols`).
    public var backfill = BackfillConfiguration(symbols: [])

    public init(database: StoreLocation) { self.database = database }

    /// A SQLite store at `databasePath`.
    public init(databasePath: String) { self.database = .sqlite(path: databasePath) }
}

/// Everything the routes share.
public struct MarketDataServices: Sendable {
    public var store: MarketStore
    public var cache: FeatureCache
    public var metrics: APIMetrics
    public var configuration: MarketDataConfiguration
    /// The backfill scheduler, when a provider is configured.
    public var scheduler: AutoBackfillScheduler?

    public init(
        store: MarketStore,
        configuration: MarketDataConfiguration,
        metrics: APIMetrics = APIMetrics(),
        scheduler: AutoBackfillScheduler? = nil
    ) {
        self.store = store
        self.configuration = configuration
        self.metrics = metrics
        self.scheduler = scheduler
        cache = FeatureCache(capacity: configuration.cacheCapacity, ttl: configuration.cacheTTL)
    }
}

/// Builds the reference API: the same builder serves `preflight serve` and the tests.
///
/// `store` is opened by the caller (``withMarketStore(_:logger:_:)`` on `configuration.database`), so a PostgreSQL
/// pool outlives the application that uses it.
public func buildMarketDataApplication(
    configuration: MarketDataConfiguration,
    store: MarketStore,
    metrics: APIMetrics = APIMetrics(),
    onListening: @escaping @Sendable (Int) async -> Void = { _ in },
    logger: Logger
) async throws -> some ApplicationProtocol {
    try await store.addSymbols(configuration.symbols)
    if configuration.demoData {
        for symbol in configuration.symbols {
            try await store.upsert(DemoData.bars(symbol: symbol), symbol: symbol)
        }
        logger.info("demo data written", metadata: ["demo.symbols": "\(configuration.symbols.count)"])
    }
    var scheduler: AutoBackfillScheduler?
    if let provider = configuration.providerURL {
        var backfill = configuration.backfill
        backfill.symbols = configuration.symbols
        let client = ProviderClient(
            transport: HTTPProviderTransport(baseURL: provider, apiKey: configuration.providerAPIKey),
            limiter: RateLimiter(
                limit: configuration.providerRateLimit?.count,
                window: configuration.providerRateLimit?.window
            ),
            random: SharedRandom(seed: UInt64.random(in: 0...UInt64.max)),
            onRateLimit: { event in try? await store.recordRateLimit(event) },
            onResponse: { metrics.providerResponse($0) },
            logger: logger
        )
        scheduler = AutoBackfillScheduler(
            store: store,
            client: client,
            configuration: backfill,
            metrics: metrics,
            logger: logger
        )
    }
    let services = MarketDataServices(
        store: store,
        configuration: configuration,
        metrics: metrics,
        scheduler: scheduler
    )
    return Application(
        router: buildMarketDataRouter(services),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "preflight-api"
        ),
        services: scheduler.map { [$0] } ?? [],
        onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// The routes of SPEC §10.
public func buildMarketDataRouter(_ services: MarketDataServices) -> Router<BasicRequestContext> {
    let router = Router()
    let store = services.store
    let cache = services.cache
    let metrics = services.metrics
    metrics.exportAtZero(scheduler: services.scheduler != nil)
    router.add(middleware: MetricsRecorder(metrics: metrics))
    router.add(middleware: LogRequestsMiddleware(.debug))

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

    let api = router.group("api/v1")
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
        let bars = try await store.bars(symbol, from: query["from"].map(String.init), to: query["to"].map(String.init))
        var body = #"{"symbol":"\#(symbol)","bars":["#
        for (i, b) in bars.enumerated() {
            if i > 0 { body += "," }
            body +=
                #"{"date":"\#(b.date)","open":\#(b.open),"high":\#(b.high),"low":\#(b.low),"close":\#(b.close),"volume":\#(b.volume)}"#
        }
        return JSONText.response(body + "]}")
    }

    let admin = api.group("admin")
    if let token = services.configuration.adminToken {
        admin.add(middleware: BearerTokenMiddleware(token: token))
    }
    let scheduler = services.scheduler
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

    let maxBody = services.configuration.maxBodyBytes
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
    return router
}

/// A Codable value as a JSON response with sorted keys.
func encodeJSON(_ value: some Encodable) throws -> Response {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return JSONText.response(ByteBuffer(bytes: try e.encode(value)))
}

/// The features response of SPEC §10, with keys in a stable order.
func featuresBody(symbol: String, bars: [Bar]) -> ByteBuffer {
    let features = QuantFeatures.compute(bars)
    let used = min(bars.count, QuantFeatures.window)
    var body = #"{"symbol":"\#(symbol)","asOf":"\#(bars.last?.date ?? "")","bars":\#(used),"features":{"#
    body += QuantFeatures.names.map { #""\#($0)":\#(JSONText.number(features[$0] ?? nil))"# }.joined(separator: ",")
    return ByteBuffer(string: body + "}}")
}

/// `Authorization: Bearer <token>` on admin routes, compared in constant time.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let header = request.headers[.authorization] ?? ""
        // The auth scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`.
        let scheme = header.prefix(7)
        guard scheme.lowercased() == "bearer ", constantTimeEquals(String(header.dropFirst(7)), token) else {
            throw APIError(.unauthorized, "unauthorized", "admin routes need Authorization: Bearer <token>")
        }
        return try await next(request, context)
    }
}
