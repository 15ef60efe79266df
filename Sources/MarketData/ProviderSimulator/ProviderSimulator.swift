import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// How the simulated upstream provider behaves (SPEC §10 "Provider simulator").
public struct ProviderSimulatorConfiguration: Sendable {
    public enum RateLimitWindow: String, Sendable, CaseIterable { case fixed, sliding }

    /// Which rate-limit header family 429s (and every answer) carry, so clients are tested against each.
    public enum HeaderStyle: String, Sendable, CaseIterable {
        /// `X-RateLimit-Limit/Remaining/Reset` with Reset as seconds until the window resets.
        case x
        /// The same with Reset as an epoch time.
        case xEpoch = "x-epoch"
        /// IETF `RateLimit: "default";r=…;t=…` and `RateLimit-Policy: "default";q=…;w=…`.
        case ietf
    }

    public enum Latency: Sendable, Equatable {
        case none
        case fixed(Duration)
        case uniform(Duration, Duration)
    }

    public var host = "127.0.0.1"
    public var port = 9000
    /// Seeds the bars (and the fault draws): the same seed gives the same bars.
    public var seed: UInt64 = 1
    /// Requests allowed per window; nil for no limit.
    public var rateLimit: (count: Int, window: Duration)? = (5, .seconds(60))
    public var rateLimitWindow = RateLimitWindow.fixed
    public var headerStyle = HeaderStyle.x
    /// Whether answers carry `Retry-After` on 429 (on by default).
    public var retryAfter = true
    /// Send the rate-limit headers only with 429s, so a client learns the limit only by hitting it.
    public var limitHeadersOnlyOn429 = false
    public var latency = Latency.none
    /// Share of requests answered 500 or 503.
    public var errorRate = 0.0
    /// Bars per response at most; longer ranges are truncated and carry a `next_url`.
    public var maxBarsPerResponse = 120
    /// How long a request hit by the timeout fault hangs before it is answered (longer than a client's timeout;
    /// bounded so that the simulator can still shut down).
    public var hangFor: Duration = .seconds(30)
    /// The first day of the random walk: no bar exists before it.
    public var origin = TradingCalendar.Day(year: 2018, month: 1, day: 2)
    /// When set, data requests need `Authorization: Bearer <key>` or `?apiKey=<key>` (as Polygon takes it) and
    /// get 401 otherwise.
    public var apiKey: String?

    public init() {}

    /// Parses `5/1m`, `50/1s`, `100/60s`, or `none`.
    public static func parseRateLimit(_ text: String) -> (count: Int, window: Duration)?? {
        if text == "none" { return .some(nil) }
        let parts = text.split(separator: "/")
        guard parts.count == 2, let count = Int(parts[0]), count > 0 else { return nil }
        var unit = String(parts[1])
        var amount = 1.0
        if let n = Double(unit.prefix { $0.isNumber || $0 == "." }), n > 0 {
            amount = n
            unit = String(unit.drop { $0.isNumber || $0 == "." })
        }
        let seconds: Double
        switch unit {
        case "ms": seconds = amount / 1000
        case "s": seconds = amount
        case "m": seconds = amount * 60
        case "h": seconds = amount * 3600
        default: return nil
        }
        return .some((count, .nanoseconds(Int64(seconds * 1e9))))
    }

    /// Parses `50ms` (fixed) or `20ms-80ms` (uniform).
    public static func parseLatency(_ text: String) -> Latency? {
        func duration(_ s: Substring) -> Duration? {
            if s.hasSuffix("ms"), let v = Double(s.dropLast(2)) { return .nanoseconds(Int64(v * 1e6)) }
            if s.hasSuffix("s"), let v = Double(s.dropLast()) { return .nanoseconds(Int64(v * 1e9)) }
            return nil
        }
        if text == "0" || text == "none" { return Latency.none }
        let parts = text.split(separator: "-")
        if parts.count == 2, let a = duration(parts[0]), let b = duration(parts[1]), a <= b { return .uniform(a, b) }
        return duration(text[...]).map { .fixed($0) }
    }
}

/// Faults switched on at run time through `POST /admin/faults`.
public struct ProviderFaults: Sendable, Codable, Equatable {
    /// The provider answers every data request with 503 until it comes back.
    public var down = false
    /// Shares of requests that never answer, get malformed JSON, or get bars with impossible values.
    public var timeoutRate = 0.0
    public var malformedRate = 0.0
    public var impossibleRate = 0.0

    public init() {}
}

/// The simulator's live state: rate-limit windows, counters, faults and the generated bars.
public actor ProviderSimulatorState {
    public let configuration: ProviderSimulatorConfiguration
    public private(set) var faults = ProviderFaults()
    /// Data requests received, answered or not.
    public private(set) var requests = 0
    public private(set) var rateLimited = 0
    /// Data requests refused for a missing or wrong key.
    public private(set) var unauthorized = 0
    /// Requests per symbol.
    public private(set) var requestsBySymbol: [String: Int] = [:]
    /// The most symbols that had a request in flight at once.
    public private(set) var maxSymbolsInFlight = 0
    private var inFlight: [String: Int] = [:]
    private var windowStart: ContinuousClock.Instant?
    private var windowCount = 0
    private var sliding: [ContinuousClock.Instant] = []
    private var series: [String: [TradingCalendar.Day: Bar]] = [:]
    private var rng: SplitMixGenerator
    private let calendar = TradingCalendar()

    public init(configuration: ProviderSimulatorConfiguration) {
        self.configuration = configuration
        rng = SplitMixGenerator(seed: configuration.seed ^ 0x5EED)
    }

    public func setFaults(_ f: ProviderFaults) { faults = f }

    func refuse() { unauthorized += 1 }

    func begin(_ symbol: String) {
        requests += 1
        requestsBySymbol[symbol, default: 0] += 1
        inFlight[symbol, default: 0] += 1
        maxSymbolsInFlight = max(maxSymbolsInFlight, inFlight.count)
    }

    func end(_ symbol: String) {
        inFlight[symbol, default: 1] -= 1
        if inFlight[symbol] == 0 { inFlight[symbol] = nil }
    }

    /// Counts the request against the limit; returns the headers to send and whether it is over the limit.
    func admit(now: ContinuousClock.Instant, epoch: Date) -> (limited: Bool, headers: HTTPFields, retryAfter: Double) {
        guard let limit = configuration.rateLimit else { return (false, [:], 0) }
        let window = limit.window
        var remaining: Int
        var reset: Duration
        var limited: Bool
        switch configuration.rateLimitWindow {
        case .fixed:
            if windowStart == nil || now - windowStart! >= window {
                windowStart = now
                windowCount = 0
            }
            limited = windowCount >= limit.count
            if !limited { windowCount += 1 }
            remaining = max(0, limit.count - windowCount)
            reset = windowStart! + window - now
        case .sliding:
            sliding.removeAll { now - $0 >= window }
            limited = sliding.count >= limit.count
            if !limited { sliding.append(now) }
            remaining = max(0, limit.count - sliding.count)
            reset = sliding.first.map { $0 + window - now } ?? window
        }
        if limited { rateLimited += 1 }
        if !limited && configuration.limitHeadersOnlyOn429 { return (false, [:], 0) }
        let resetSeconds = max(0, reset.seconds)
        var headers: HTTPFields = [:]
        switch configuration.headerStyle {
        case .x, .xEpoch:
            headers[HTTPField.Name("X-RateLimit-Limit")!] = String(limit.count)
            headers[HTTPField.Name("X-RateLimit-Remaining")!] = String(remaining)
            let resetValue =
                configuration.headerStyle == .xEpoch
                ? String(Int((epoch.timeIntervalSince1970 + resetSeconds).rounded(.up)))
                : String(Int(resetSeconds.rounded(.up)))
            headers[HTTPField.Name("X-RateLimit-Reset")!] = resetValue
        case .ietf:
            headers[HTTPField.Name("RateLimit")!] = "\"default\";r=\(remaining);t=\(Int(resetSeconds.rounded(.up)))"
            headers[HTTPField.Name("RateLimit-Policy")!] =
                "\"default\";q=\(limit.count);w=\(Int(window.seconds.rounded(.up)))"
        }
        if limited && configuration.retryAfter {
            headers[.retryAfter] = String(max(1, Int(resetSeconds.rounded(.up))))
        }
        return (limited, headers, resetSeconds)
    }

    /// A draw in [0, 1) for fault decisions.
    func draw() -> Double { rng.unit() }

    /// Bars of `symbol` over [from, to] (trading days only), deterministic for the seed.
    func bars(_ symbol: String, from: TradingCalendar.Day, to: TradingCalendar.Day) -> [Bar] {
        let last = min(to, TradingCalendar.Day.today())
        if series[symbol] == nil { series[symbol] = generate(symbol, through: last) }
        var map = series[symbol]!
        if let newest = map.keys.max(), newest < last {
            map = generate(symbol, through: last)
            series[symbol] = map
        }
        return calendar.tradingDays(from: max(from, configuration.origin), to: last).compactMap { map[$0] }
    }

    private func generate(_ symbol: String, through last: TradingCalendar.Day) -> [TradingCalendar.Day: Bar] {
        var r = SplitMixGenerator(seed: configuration.seed, name: symbol)
        var close = 20 + Double(r.next() % 300)
        var out: [TradingCalendar.Day: Bar] = [:]
        for day in calendar.tradingDays(from: configuration.origin, to: last) {
            let open = close * (1 + r.normal() * 0.004)
            close = max(1, close * (1 + 0.0002 + r.normal() * 0.016))
            let high = max(open, close) * (1 + abs(r.normal()) * 0.006)
            let low = min(open, close) * (1 - abs(r.normal()) * 0.006)
            let round4: (Double) -> Double = { ($0 * 10_000).rounded() / 10_000 }
            out[day] = Bar(
                date: day.description,
                open: round4(open),
                high: round4(high),
                low: round4(low),
                close: round4(close),
                volume: Double(50_000 + r.next() % 3_000_000)
            )
        }
        return out
    }
}

/// The simulator's routes: `GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}` (Polygon-style) and the admin
/// switches `POST /admin/faults`, `POST /admin/down`, `POST /admin/up`, `GET /admin/stats`.
public func buildProviderSimulatorRouter(_ state: ProviderSimulatorState) -> Router<BasicRequestContext> {
    let router = Router()
    let key = state.configuration.apiKey
    router.get("v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}") { request, context in
        if let key {
            let bearer = request.headers[.authorization].map { $0 == "Bearer \(key)" } ?? false
            let query = request.uri.queryParameters["apiKey"].map { $0 == key[...] } ?? false
            guard bearer || query else {
                await state.refuse()
                return JSONText.response(
                    #"{"status":"ERROR","error":"Unknown API Key"}"#,
                    status: .unauthorized
                )
            }
        }
        let symbol = try context.parameters.require("symbol")
        guard isValidSymbol(symbol[...]), let from = TradingCalendar.Day(try context.parameters.require("from")),
            let to = TradingCalendar.Day(try context.parameters.require("to"))
        else {
            return JSONText.response(#"{"status":"ERROR","error":"bad request"}"#, status: .badRequest)
        }
        await state.begin(symbol)
        do {
            let response = try await simulateAggregates(symbol: symbol, from: from, to: to, state: state)
            await state.end(symbol)
            return response
        } catch {
            await state.end(symbol)
            throw error
        }
    }
    router.post("admin/faults") { request, context in
        // A partial body changes only the keys it names; rates must be shares (0…1).
        struct Patch: Decodable {
            var down: Bool?
            var timeoutRate: Double?
            var malformedRate: Double?
            var impossibleRate: Double?
        }
        guard let patch = try? await request.decode(as: Patch.self, context: context) else {
            return JSONText.response(
                #"{"status":"ERROR","error":"expected {\"down\": bool, \"timeoutRate\"|\"malformedRate\"|\"impossibleRate\": 0…1}, any subset"}"#,
                status: .badRequest
            )
        }
        for (name, rate) in [
            ("timeoutRate", patch.timeoutRate), ("malformedRate", patch.malformedRate),
            ("impossibleRate", patch.impossibleRate),
        ] {
            if let rate, !(0...1).contains(rate) {
                return JSONText.response(
                    #"{"status":"ERROR","error":"\#(name) must be between 0 and 1, got \#(rate)"}"#,
                    status: .badRequest
                )
            }
        }
        var faults = await state.faults
        if let v = patch.down { faults.down = v }
        if let v = patch.timeoutRate { faults.timeoutRate = v }
        if let v = patch.malformedRate { faults.malformedRate = v }
        if let v = patch.impossibleRate { faults.impossibleRate = v }
        await state.setFaults(faults)
        return JSONText.response(#"{"status":"OK"}"#)
    }
    router.post("admin/down") { _, _ in
        var f = await state.faults
        f.down = true
        await state.setFaults(f)
        return JSONText.response(#"{"status":"down"}"#)
    }
    router.post("admin/up") { _, _ in
        var f = await state.faults
        f.down = false
        await state.setFaults(f)
        return JSONText.response(#"{"status":"up"}"#)
    }
    router.get("admin/stats") { _, _ in
        let requests = await state.requests
        let limited = await state.rateLimited
        let maxInFlight = await state.maxSymbolsInFlight
        let refused = await state.unauthorized
        return JSONText.response(
            #"{"requests":\#(requests),"rateLimited":\#(limited),"maxSymbolsInFlight":\#(maxInFlight),"unauthorized":\#(refused)}"#
        )
    }
    return router
}

/// One aggregates request after it was counted: down, rate limit, latency, injected faults, then the bars.
func simulateAggregates(
    symbol: String,
    from: TradingCalendar.Day,
    to: TradingCalendar.Day,
    state: ProviderSimulatorState
) async throws -> Response {
    let configuration = state.configuration
    let faults = await state.faults
    if faults.down {
        return JSONText.response(#"{"status":"ERROR","error":"provider down"}"#, status: .serviceUnavailable)
    }
    let (limited, headers, _) = await state.admit(now: .now, epoch: Date())
    if limited {
        return JSONText.response(
            #"{"status":"ERROR","error":"rate limit exceeded"}"#,
            status: .tooManyRequests,
            extra: headers
        )
    }
    switch configuration.latency {
    case .none: break
    case .fixed(let d): try await Task.sleep(for: d)
    case .uniform(let a, let b):
        let u = await state.draw()
        try await Task.sleep(for: a + (b - a) * u)
    }
    if await state.draw() < faults.timeoutRate {
        try await Task.sleep(for: configuration.hangFor)  // the client's timeout ends it first
    }
    if await state.draw() < configuration.errorRate {
        let status: HTTPResponse.Status = await state.draw() < 0.5 ? .internalServerError : .serviceUnavailable
        return JSONText.response(#"{"status":"ERROR","error":"internal error"}"#, status: status, extra: headers)
    }
    if await state.draw() < faults.malformedRate {
        return JSONText.response(#"{"results":[{"t":1,"o":"#, extra: headers)
    }
    var bars = await state.bars(symbol, from: from, to: to)
    var next: String?
    if bars.count > configuration.maxBarsPerResponse {
        let nextDay = TradingCalendar.Day(bars[configuration.maxBarsPerResponse].date)!
        bars = Array(bars.prefix(configuration.maxBarsPerResponse))
        next = "/v2/aggs/ticker/\(symbol)/range/1/day/\(nextDay)/\(to)"
    }
    if !bars.isEmpty, await state.draw() < faults.impossibleRate {
        let i = Int(await state.draw() * Double(bars.count))
        bars[i].low = bars[i].high * 1.5  // high < low: impossible
    }
    let results = bars.map { b in
        let ms = Int64(TradingCalendar.Day(b.date)!.ordinal) * 86_400_000
        return #"{"t":\#(ms),"o":\#(b.open),"h":\#(b.high),"l":\#(b.low),"c":\#(b.close),"v":\#(b.volume)}"#
    }
    var body =
        #"{"ticker":"\#(symbol)","status":"OK","resultsCount":\#(bars.count),"results":[\#(results.joined(separator: ","))]"#
    if let next { body += #","next_url":"\#(next)""# }
    return JSONText.response(body + "}", extra: headers)
}

/// The simulator as an application, for `preflight provider-sim` and the tests.
public func buildProviderSimulator(
    configuration: ProviderSimulatorConfiguration,
    onListening: @escaping @Sendable (Int) async -> Void = { _ in },
    logger: Logger
) -> (application: some ApplicationProtocol, state: ProviderSimulatorState) {
    let state = ProviderSimulatorState(configuration: configuration)
    let app = Application(
        router: buildProviderSimulatorRouter(state),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "provider-sim"
        ),
        onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
    return (app, state)
}
