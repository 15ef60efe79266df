import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Prometheus

/// What the reference API speaks on its port (SPEC §15: the demo can show both protocols).
public enum ServedProtocol: Sendable, Equatable {
    /// HTTP/1.1 in clear text (the default).
    case http1
    /// HTTP/1.1 over TLS, with this PEM certificate chain and key.
    case http1TLS(certificate: String, key: String)
    /// HTTP/2 over TLS (ALPN `h2`), HTTP/1.1 for a client that does not offer it.
    case http2TLS(certificate: String, key: String)
    /// HTTP/2 in clear text with prior knowledge (h2c); HTTP/1.1 clients are not served.
    case h2c

    /// The server Hummingbird builds for it; a certificate or key that does not read is an error naming the file.
    func serverBuilder() throws -> HTTPServerBuilder {
        switch self {
        case .http1: return .http1()
        case .h2c: return .plaintextHTTP2()
        case .http1TLS(let certificate, let key):
            return try .tls(.http1(), tlsConfiguration: Self.tls(certificate: certificate, key: key))
        case .http2TLS(let certificate, let key):
            return try .http2Upgrade(tlsConfiguration: Self.tls(certificate: certificate, key: key))
        }
    }

    static func tls(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw ServeTLSError(description: "cannot read the certificate \(certificate) as PEM: \(error)")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw ServeTLSError(description: "cannot read the private key \(key) as PEM: \(error)")
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
    }

    /// What the listening line adds about the protocol.
    public var note: String {
        switch self {
        case .http1: ""
        case .http1TLS: " (HTTP/1.1 over TLS)"
        case .http2TLS: " (HTTP/2 over TLS by ALPN, HTTP/1.1 for other clients)"
        case .h2c: " (HTTP/2 without TLS, prior knowledge only: h2c)"
        }
    }

    /// `http`, `https`, as a URL to this server begins.
    public var scheme: String {
        switch self {
        case .http1, .h2c: "http"
        case .http1TLS, .http2TLS: "https"
        }
    }
}

/// A certificate or key `serve` cannot use.
public struct ServeTLSError: Error, CustomStringConvertible {
    public var description: String
}

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
    /// HTTP/1.1 (the default), over TLS, HTTP/2 over TLS, or h2c.
    public var served = ServedProtocol.http1

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
        server: try configuration.served.serverBuilder(),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "preflight-api"
        ),
        services: scheduler.map { [$0] } ?? [],
        onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// The routes of SPEC §10, one controller each: health and metrics, market data, the scheduler's admin endpoints and
/// the drill canary.
public func buildMarketDataRouter(_ services: MarketDataServices) -> Router<BasicRequestContext> {
    let router = Router()
    services.metrics.exportAtZero(scheduler: services.scheduler != nil)
    router.add(middleware: MetricsRecorder(metrics: services.metrics))
    router.add(middleware: LogRequestsMiddleware(.debug))
    HealthController(store: services.store, metrics: services.metrics).addRoutes(to: router)
    let api = router.group("api/v1")
    MarketDataController(store: services.store, cache: services.cache, metrics: services.metrics).addRoutes(to: api)
    let admin = api.group("admin")
    if let token = services.configuration.adminToken {
        admin.add(middleware: BearerTokenMiddleware(token: token))
    }
    BackfillAdminController(store: services.store, scheduler: services.scheduler).addRoutes(to: admin)
    DrillCanaryController(store: services.store, maxBodyBytes: services.configuration.maxBodyBytes)
        .addRoutes(to: admin)
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
