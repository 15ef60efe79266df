import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One HTTP exchange with the provider, abstracted so the scheduler's logic does not care how it travels.
public protocol ProviderTransport: Sendable {
    /// GETs `path` (with its query) from the provider; a timeout throws `ProviderTimeout`.
    func get(
        _ path: String,
        timeout: Duration
    ) async throws -> (status: Int, headers: [(name: String, value: String)], body: ByteBuffer)
}

/// The request took longer than its timeout.
public struct ProviderTimeout: Error {}

/// The provider over HTTP (AsyncHTTPClient: the scheduler is not the load path).
public struct HTTPProviderTransport: ProviderTransport {
    public var baseURL: String
    public var client: HTTPClient
    /// Response bodies larger than this are refused as malformed.
    public var maxBodyBytes = 8 << 20
    /// Sent as `Authorization: Bearer …` (Polygon accepts its key so), never in the URL, so that no path or log
    /// holds it.
    public var apiKey: String?

    public init(baseURL: String, apiKey: String? = nil, client: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.client = client
    }

    public func get(
        _ path: String,
        timeout: Duration
    ) async throws -> (
        status: Int, headers: [(name: String, value: String)], body: ByteBuffer
    ) {
        var request = HTTPClientRequest(url: baseURL + path)
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let body = try await response.body.collect(upTo: maxBodyBytes)
            return (Int(response.status.code), response.headers.map { (name: $0.name, value: $0.value) }, body)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ProviderTimeout()
        }
    }
}

/// A hard budget on requests sent: once `limit` have gone, every further `get` throws
/// `ProviderFailure.budgetSpent` without sending (`baseline --max-requests`).
public final class BudgetedTransport: ProviderTransport {
    public let inner: any ProviderTransport
    public let limit: Int
    private let used = NIOLockedValueBox(0)

    public init(_ inner: any ProviderTransport, limit: Int) {
        self.inner = inner
        self.limit = limit
    }

    /// Requests sent so far.
    public var sent: Int { used.withLockedValue { $0 } }

    public func get(
        _ path: String,
        timeout: Duration
    ) async throws -> (status: Int, headers: [(name: String, value: String)], body: ByteBuffer) {
        let granted = used.withLockedValue { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
        guard granted else { throw ProviderFailure.budgetSpent(limit) }
        return try await inner.get(path, timeout: timeout)
    }
}

/// What a fetch of one date range found.
public struct FetchResult: Sendable {
    public var bars: [Bar] = []
    /// Bars the provider sent that can not be true (negative prices, high below low, …), with the reason.
    public var rejected: [(date: String, reason: String)] = []
    public var requests = 0
    public var rateLimitHits = 0
    /// Time spent in provider calls, waiting on the rate limiter, and backing off.
    public var providerTime: Duration = .zero
    public var limiterWait: Duration = .zero
    public var backoffWait: Duration = .zero
}

/// Why a fetch gave up.
public enum ProviderFailure: Error, Sendable, Equatable {
    /// 404: the provider does not know the symbol.
    case unknownSymbol
    /// 401/403: the provider refuses us; the scheduler pauses it.
    case unauthorized(Int)
    /// Another status that is not worth retrying (400, 422, …).
    case rejected(Int)
    /// Every attempt failed with a retryable status (nil: timeout) or a malformed body.
    case exhausted(lastStatus: Int?, attempts: Int)
    /// The request budget (`baseline --max-requests`) is spent; nothing was sent.
    case budgetSpent(Int)
}

/// Fetches a symbol's daily bars from the provider: follows pagination, validates every bar, waits on the shared
/// rate limiter before each request, and retries transient failures with full-jitter backoff.
public struct ProviderClient: Sendable {
    public var name = "provider"
    public var transport: any ProviderTransport
    public var limiter: RateLimiter
    public var policy: BackoffPolicy
    public var timeout: Duration
    public var calendar = TradingCalendar()
    /// Seeded jitter; shared by the symbols in flight.
    public var random: SharedRandom
    public var sleep: @Sendable (Duration) async throws -> Void
    public var onRateLimit: @Sendable (RateLimitEvent) async -> Void
    public var onResponse: @Sendable (Int?) -> Void
    /// Every attempt, when its outcome is known (before the backoff wait it chose).
    public var onAttempt: @Sendable (ProviderAttempt) async -> Void
    public var logger: Logger

    public init(
        transport: any ProviderTransport,
        limiter: RateLimiter,
        policy: BackoffPolicy = BackoffPolicy(),
        timeout: Duration = .seconds(10),
        random: SharedRandom,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        onRateLimit: @escaping @Sendable (RateLimitEvent) async -> Void = { _ in },
        onResponse: @escaping @Sendable (Int?) -> Void = { _ in },
        onAttempt: @escaping @Sendable (ProviderAttempt) async -> Void = { _ in },
        logger: Logger
    ) {
        self.onAttempt = onAttempt
        self.transport = transport
        self.limiter = limiter
        self.policy = policy
        self.timeout = timeout
        self.random = random
        self.sleep = sleep
        self.onRateLimit = onRateLimit
        self.onResponse = onResponse
        self.logger = logger
    }

    /// All bars of `symbol` in [from, to].
    public func fetch(
        _ symbol: String,
        from: TradingCalendar.Day,
        to: TradingCalendar.Day
    ) async throws(ProviderFailure)
        -> FetchResult
    {
        var result = FetchResult()
        try await fetch(symbol, from: from, to: to, into: &result)
        return result
    }

    /// All bars of `symbol` in [from, to], into `result`, whose counters and times also hold what a failed fetch
    /// spent.
    public func fetch(
        _ symbol: String,
        from: TradingCalendar.Day,
        to: TradingCalendar.Day,
        into result: inout FetchResult
    ) async throws(ProviderFailure) {
        var next: String? = "/v2/aggs/ticker/\(symbol)/range/1/day/\(from)/\(to)"
        var pages = 0
        while let path = next {
            pages += 1
            // A provider whose next_url never ends (or loops) must not keep the job forever.
            guard pages <= Self.maxPages else {
                logger.warning("provider pagination does not end", metadata: ["provider.pages": "\(pages)"])
                throw .exhausted(lastStatus: 200, attempts: result.requests)
            }
            next = try await fetchPage(path, symbol: symbol, result: &result)
        }
        Self.settle(&result, from: from, to: to)
    }

    /// More pages than this for one range is a provider that lies about `next_url`.
    public static let maxPages = 1000

    /// Keeps only bars that can be stored: inside the requested range, one per date. Identical copies of a bar
    /// are kept once; copies that disagree are all rejected, since nothing says which one is true.
    static func settle(_ result: inout FetchResult, from: TradingCalendar.Day, to: TradingCalendar.Day) {
        let (low, high) = (from.description, to.description)
        var byDate: [String: [Bar]] = [:]
        var order: [String] = []
        for bar in result.bars {
            guard bar.date >= low && bar.date <= high else {
                result.rejected.append((bar.date, "outside the requested range \(low)…\(high)"))
                continue
            }
            if byDate[bar.date] == nil { order.append(bar.date) }
            byDate[bar.date, default: []].append(bar)
        }
        result.bars = []
        for date in order {
            let copies = byDate[date]!
            if copies.allSatisfy({ $0 == copies[0] }) {
                result.bars.append(copies[0])
            } else {
                result.rejected += copies.map { ($0.date, "\(copies.count) different bars for the same date") }
            }
        }
    }

    /// One page with its retries; returns the next page's path, if any. Every attempt is reported to `onAttempt`
    /// with what came back and the wait chosen before the next one.
    private func fetchPage(
        _ path: String,
        symbol: String,
        result: inout FetchResult
    ) async throws(ProviderFailure) -> String? {
        let endpoint = path.split(separator: "?").first.map(String.init) ?? path
        var attempt = 0
        while true {
            result.requests += 1
            var record = ProviderAttempt(symbol: symbol, endpoint: endpoint, attempt: attempt + 1)
            var terminal: ProviderFailure?
            var retryAfter: Duration?
            do {
                let limiterWait = try await limiter.acquire()
                result.limiterWait += limiterWait
                record.limiterWaitSeconds = limiterWait.seconds
                let start = ContinuousClock.now
                let response = try await transport.get(path, timeout: timeout)
                let took = ContinuousClock.now - start
                result.providerTime += took
                record.durationSeconds = took.seconds
                record.at = Date()
                record.status = response.status
                onResponse(response.status)
                let snapshot = RateLimitHeaders.parse(response.headers, now: Date())
                await limiter.observe(snapshot, status: response.status)
                retryAfter = snapshot.retryAfter
                record.retryAfterSeconds = snapshot.retryAfter?.seconds
                if response.status == 429 {
                    result.rateLimitHits += 1
                    await onRateLimit(
                        RateLimitEvent(
                            at: Date(),
                            provider: name,
                            status: 429,
                            retryAfter: snapshot.retryAfter?.seconds,
                            remaining: snapshot.remaining,
                            reset: snapshot.reset?.seconds,
                            endpoint: endpoint
                        )
                    )
                }
                if response.status == 200 {
                    if let page = parse(response.body, into: &result) {
                        record.outcome = .ok
                        await onAttempt(record)
                        return page.next
                    }
                    logger.warning("malformed provider body", metadata: ["provider.path": "\(endpoint)"])
                    record.error = "malformed body"  // retried like a timeout
                } else if response.status == 404 {
                    (terminal, record.outcome) = (.unknownSymbol, .unknownSymbol)
                } else if response.status == 401 || response.status == 403 {
                    (terminal, record.outcome) = (.unauthorized(response.status), .refused)
                } else if !BackoffPolicy.isRetryable(status: response.status) {
                    (terminal, record.outcome) = (.rejected(response.status), .rejected)
                }
            } catch let failure as ProviderFailure {
                // From the transport itself: a request budget that is spent.
                record.at = Date()
                record.error = "\(failure)"
                (terminal, record.outcome) = (failure, .budget)
                result.requests -= 1  // not sent
            } catch is CancellationError {
                record.at = Date()
                (record.error, record.outcome) = ("cancelled", .gaveUp)
                await onAttempt(record)
                throw .exhausted(lastStatus: record.status, attempts: attempt + 1)
            } catch {
                onResponse(nil)
                record.at = Date()
                record.error = error is ProviderTimeout ? "timeout" : "transport: \(error)".prefix(200).description
            }
            if let terminal {
                await onAttempt(record)
                throw terminal
            }
            // A retryable failure: a timeout, a transport error, a malformed body, or a retryable status.
            let status = record.error == nil ? record.status : nil
            let wait = random.withGenerator { policy.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &$0) }
            guard let wait else {
                record.outcome = .gaveUp
                await onAttempt(record)
                throw .exhausted(lastStatus: status, attempts: attempt + 1)
            }
            record.outcome = .retry
            record.waitSeconds = wait.seconds
            await onAttempt(record)
            result.backoffWait += wait
            do { try await sleep(wait) } catch { throw .exhausted(lastStatus: status, attempts: attempt + 1) }
            attempt += 1
        }
    }

    /// Decodes a page; nil when the body is not the expected JSON. Impossible bars are rejected one by one.
    func parse(_ body: ByteBuffer, into result: inout FetchResult) -> (next: String?, Void)? {
        struct Page: Decodable {
            struct Agg: Decodable {
                var t: Int64
                var o: Double
                var h: Double
                var l: Double
                var c: Double
                var v: Double
            }
            var results: [Agg]?
            var next_url: String?
        }
        guard let page = try? JSONDecoder().decode(Page.self, from: Data(body.readableBytesView)) else { return nil }
        // The next page must be a path on the same provider: "//host/…" or "@host/…" appended to the base URL
        // would send the scheduler elsewhere.
        if let next = page.next_url, !next.hasPrefix("/") || next.hasPrefix("//") { return nil }
        for a in page.results ?? [] {
            let day = TradingCalendar.Day(ordinal: Int(a.t / 86_400_000))
            let bar = Bar(date: day.description, open: a.o, high: a.h, low: a.l, close: a.c, volume: a.v)
            if let reason = Self.impossibility(bar, calendar: calendar) {
                result.rejected.append((bar.date, reason))
                logger.warning("rejected bar", metadata: ["bar.date": "\(bar.date)", "bar.reason": "\(reason)"])
            } else {
                result.bars.append(bar)
            }
        }
        return (page.next_url, ())
    }

    /// Why a bar can not be true, or nil.
    static func impossibility(_ b: Bar, calendar: TradingCalendar) -> String? {
        let prices = [b.open, b.high, b.low, b.close]
        if !prices.allSatisfy({ $0.isFinite && $0 > 0 }) { return "non-positive or non-finite price" }
        if !(b.volume.isFinite && b.volume >= 0) { return "negative volume" }
        if b.high < b.low { return "high below low" }
        if b.high < max(b.open, b.close) || b.low > min(b.open, b.close) { return "open or close outside [low, high]" }
        if let d = TradingCalendar.Day(b.date), !calendar.isTradingDay(d) { return "not a trading day" }
        return nil
    }
}
