import Foundation
import Logging
import MarketData
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// A provider that answers from a script, so each lie is told exactly once and in order.
final class ScriptedProvider: ProviderTransport {
    typealias Answer = (status: Int, headers: [(name: String, value: String)], body: String)
    private let answer: @Sendable (String, Int) -> Answer
    let requests = NIOLockedValueBox<[String]>([])

    /// `answer` gets the path and how many requests came before.
    init(_ answer: @escaping @Sendable (String, Int) -> Answer) { self.answer = answer }

    func get(
        _ path: String,
        timeout: Duration
    ) async throws -> (status: Int, headers: [(name: String, value: String)], body: ByteBuffer) {
        let n = requests.withLockedValue {
            $0.append(path)
            return $0.count - 1
        }
        let a = answer(path, n)
        return (a.status, a.headers, ByteBuffer(string: a.body))
    }
}

/// Waits the client and its limiter were asked for, without waiting them.
final class RecordedWaits: Sendable {
    let backoff = NIOLockedValueBox<[Duration]>([])
    let limiter = NIOLockedValueBox<[Duration]>([])
}

@Suite struct ProviderLiesTests {
    static let from = TradingCalendar.Day("2026-11-02")!
    static let to = TradingCalendar.Day("2026-11-06")!

    static func bar(_ date: String, close: Double = 10) -> String {
        let ms = Int64(TradingCalendar.Day(date)!.ordinal) * 86_400_000
        return #"{"t":\#(ms),"o":10,"h":11,"l":9,"c":\#(close),"v":1000}"#
    }

    static func page(_ bars: [String], next: String? = nil) -> String {
        #"{"results":[\#(bars.joined(separator: ","))]\#(next.map { #","next_url":"\#($0)""# } ?? "")}"#
    }

    static let goodPage = page(["2026-11-02", "2026-11-03"].map { bar($0) })

    static func client(
        _ transport: any ProviderTransport,
        waits: RecordedWaits,
        maxAttempts: Int = 4
    )
        -> ProviderClient
    {
        var logger = Logger(label: "lies")
        logger.logLevel = .critical
        let start = ContinuousClock.now
        let limiter = RateLimiter(
            limit: nil,
            window: nil,
            now: { start },
            sleep: { until in waits.limiter.withLockedValue { $0.append(until - start) } }
        )
        return ProviderClient(
            transport: transport,
            limiter: limiter,
            policy: BackoffPolicy(base: .milliseconds(10), cap: .milliseconds(200), maxAttempts: maxAttempts),
            timeout: .seconds(1),
            random: SharedRandom(seed: 3),
            sleep: { d in waits.backoff.withLockedValue { $0.append(d) } },
            logger: logger
        )
    }

    @Test(arguments: ["-5", "99999999999", "NaN", "inf", "Tue, 30 Nov 2036 00:00:00 GMT", "soon"])
    func aRetryAfterThatIsNegativeOrAbsurdIsIgnored(_ value: String) async throws {
        let provider = ScriptedProvider { _, n in
            n == 0 ? (429, [("Retry-After", value)], "") : (200, [], Self.goodPage)
        }
        let waits = RecordedWaits()
        let result = try await Self.client(provider, waits: waits).fetch("AAA", from: Self.from, to: Self.to)
        #expect(result.bars.map(\.date) == ["2026-11-02", "2026-11-03"])
        #expect(result.rateLimitHits == 1)
        // Nothing waited on the lie: the backoff stays in its jitter window, the limiter blocks a second at most
        // (a 429 without a believable hint blocks one window, a second when the window is unknown).
        #expect(waits.backoff.withLockedValue { $0 }.allSatisfy { $0 >= .zero && $0 <= .milliseconds(200) })
        #expect(waits.limiter.withLockedValue { $0 }.allSatisfy { $0 >= .zero && $0 <= .seconds(1) })
    }

    @Test func aResetInThePastOrTenYearsAheadDoesNotStallTheScheduler() async throws {
        let now = Date().timeIntervalSince1970
        let provider = ScriptedProvider { _, n in
            switch n {
            case 0:
                return (
                    200, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "\(Int(now - 3600))")],
                    Self.page([Self.bar("2026-11-02")], next: "/v2/aggs/ticker/AAA/range/1/day/2026-11-03/2026-11-06")
                )
            case 1:
                return (
                    429, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "\(Int(now + 10 * 365 * 86_400))")], ""
                )
            default:
                return (
                    200, [("RateLimit", "limit=5, remaining=0, reset=315360000")], Self.page([Self.bar("2026-11-03")])
                )
            }
        }
        let waits = RecordedWaits()
        let result = try await Self.client(provider, waits: waits).fetch("AAA", from: Self.from, to: Self.to)
        #expect(result.bars.map(\.date) == ["2026-11-02", "2026-11-03"])
        #expect(waits.limiter.withLockedValue { $0 }.allSatisfy { $0 <= .seconds(1) })
        #expect(waits.backoff.withLockedValue { $0 }.allSatisfy { $0 <= .milliseconds(200) })
    }

    @Test func duplicateBarsThatDisagreeAreAllRejectedAndIdenticalOnesKeptOnce() async throws {
        let provider = ScriptedProvider { _, _ in
            (
                200, [],
                Self.page([
                    Self.bar("2026-11-02"), Self.bar("2026-11-02"),
                    Self.bar("2026-11-03", close: 10), Self.bar("2026-11-03", close: 10.5),
                    Self.bar("2026-11-04"), Self.bar("2026-12-01"), Self.bar("2026-10-30"),
                ])
            )
        }
        let result = try await Self.client(provider, waits: RecordedWaits())
            .fetch("AAA", from: Self.from, to: Self.to)
        #expect(result.bars.map(\.date) == ["2026-11-02", "2026-11-04"])
        let reasons = Dictionary(grouping: result.rejected, by: \.date).mapValues { $0.map(\.reason) }
        #expect(reasons["2026-11-03"] == ["2 different bars for the same date", "2 different bars for the same date"])
        #expect(reasons["2026-12-01"] == ["outside the requested range 2026-11-02…2026-11-06"])
        #expect(reasons["2026-10-30"]?.count == 1)
    }

    @Test(arguments: [
        "<html><body>Service temporarily unavailable</body></html>",
        #"{"results": "none"}"#,
        #"{"results":[{"t":"yesterday","o":1,"h":1,"l":1,"c":1,"v":1}]}"#,
        #"{"results":[{"t":1e40,"o":1,"h":1,"l":1,"c":1,"v":1}]}"#,
        Self.page([Self.bar("2026-11-02")], next: "@evil.example/v2/x"),
        Self.page([Self.bar("2026-11-02")], next: "//evil.example/v2/x"),
        "",
    ])
    func a200WithABodyThatIsNotAPageIsRetriedAndGivesNoBar(_ body: String) async throws {
        let provider = ScriptedProvider { _, _ in (200, [("Content-Type", "text/html")], body) }
        let waits = RecordedWaits()
        await #expect(throws: ProviderFailure.exhausted(lastStatus: nil, attempts: 4)) {
            try await Self.client(provider, waits: waits).fetch("AAA", from: Self.from, to: Self.to)
        }
        #expect(provider.requests.withLockedValue { $0.count } == 4)
        #expect(provider.requests.withLockedValue { $0 }.allSatisfy { $0.hasPrefix("/v2/aggs/ticker/AAA/") })
    }

    @Test func barsFromTheFarPastOrFutureAreRejectedNotStored() async throws {
        let provider = ScriptedProvider { _, _ in
            (
                200, [],
                #"{"results":[{"t":-9000000000000000,"o":1,"h":1,"l":1,"c":1,"v":1},{"t":9000000000000000,"o":1,"h":1,"l":1,"c":1,"v":1}]}"#
            )
        }
        let result = try await Self.client(provider, waits: RecordedWaits()).fetch("AAA", from: Self.from, to: Self.to)
        #expect(result.bars.isEmpty)
        #expect(result.rejected.count == 2)
    }

    @Test func paginationThatNeverEndsIsCutOff() async throws {
        let provider = ScriptedProvider { path, _ in
            (200, [], Self.page([Self.bar("2026-11-02")], next: path))  // next_url points at itself
        }
        await #expect(throws: ProviderFailure.self) {
            try await Self.client(provider, waits: RecordedWaits()).fetch("AAA", from: Self.from, to: Self.to)
        }
        #expect(provider.requests.withLockedValue { $0.count } == ProviderClient.maxPages)
    }

    @Test func theSchedulerStoresNoBadBar() async throws {
        let calendar = TradingCalendar()
        // Every range is answered with its trading days, plus lies: one date twice with different closes, an
        // impossible bar, and a bar outside the range asked for.
        let provider = ScriptedProvider { path, _ in
            let parts = path.split(separator: "/")
            let from = TradingCalendar.Day(String(parts[parts.count - 2]))!
            let to = TradingCalendar.Day(String(parts[parts.count - 1]))!
            var bars = calendar.tradingDays(from: from, to: to).map { Self.bar($0.description) }
            if let first = calendar.tradingDays(from: from, to: to).first {
                bars.append(Self.bar(first.description, close: 10.9))
            }
            bars.append(#"{"t":\#(Int64(to.ordinal) * 86_400_000),"o":10,"h":9,"l":11,"c":10,"v":1}"#)
            bars.append(Self.bar(to.adding(days: 400).description))
            return (200, [], Self.page(bars))
        }
        let store = try MarketStore(path: temporaryDatabase())
        var logger = Logger(label: "lies")
        logger.logLevel = .critical
        var configuration = BackfillConfiguration(symbols: ["LIE"])
        configuration.lookbackDays = 60
        configuration.chunkDays = 20
        let today = TradingCalendar.Day("2026-11-27")!
        let scheduler = AutoBackfillScheduler(
            store: store,
            client: Self.client(provider, waits: RecordedWaits()),
            configuration: configuration,
            logger: logger,
            today: { today }
        )
        let run = try #require(try await scheduler.runOnce())
        let stored = try await store.bars("LIE")
        #expect(!stored.isEmpty)
        #expect(stored.allSatisfy { $0.low <= $0.high && $0.close == 10 })
        #expect(Set(stored.map(\.date)).count == stored.count)
        #expect(stored.allSatisfy { $0.date >= today.adding(days: -60).description && $0.date <= today.description })
        #expect(run.outcomes[0].rejectedBars > 0)
    }
}

/// Answers every request with the same bytes, then closes.
final class CannedResponder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let bytes: String
    init(_ bytes: String) { self.bytes = bytes }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        channel.writeAndFlush(ByteBuffer(string: bytes)).whenComplete { _ in channel.close(promise: nil) }
    }
}

extension ProviderLiesTests {
    /// A server that answers every request with the same bytes and closes: a wrong Content-Length is told by the
    /// socket itself, as a lying proxy would.
    static func withRawServer<T: Sendable>(
        _ response: String,
        _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { $0.pipeline.addHandler(CannedResponder(response)) }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        do {
            let value = try await body(port)
            try await channel.close()
            return value
        } catch {
            try? await channel.close()
            throw error
        }
    }

    @Test(arguments: [
        // Longer than what follows, then the connection closes.
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n" + goodPage,
        // Shorter than the page: the JSON is cut and no bar in it may be believed.
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n" + goodPage,
        "HTTP/1.1 200 OK\r\nContent-Length: -7\r\n\r\n" + goodPage,
        "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Length: 99\r\n\r\n" + goodPage,
    ])
    func aWrongContentLengthIsRetriedAndGivesNoBar(_ response: String) async throws {
        try await Self.withRawServer(response) { port in
            let waits = RecordedWaits()
            let client = Self.client(HTTPProviderTransport(baseURL: "http://127.0.0.1:\(port)"), waits: waits)
            await #expect(throws: ProviderFailure.self) {
                try await client.fetch("AAA", from: Self.from, to: Self.to)
            }
        }
    }
}
