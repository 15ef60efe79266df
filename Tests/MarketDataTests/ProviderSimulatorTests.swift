import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import MarketData

func simulator(
    _ configure: (inout ProviderSimulatorConfiguration) -> Void = { _ in }
) -> (
    some ApplicationProtocol, ProviderSimulatorState
) {
    var c = ProviderSimulatorConfiguration()
    c.port = 0
    configure(&c)
    var logger = Logger(label: "sim-test")
    logger.logLevel = .critical
    return buildProviderSimulator(configuration: c, logger: logger)
}

struct ProviderSimulatorTests {
    @Test func barsAreDeterministicTradingDaysWithPagination() async throws {
        let (app, _) = simulator {
            $0.rateLimit = nil
            $0.maxBarsPerResponse = 50
        }
        let path = "/v2/aggs/ticker/AAPL/range/1/day/2024-01-01/2024-12-31"
        try await app.test(.router) { client in
            let first = try await client.execute(uri: path, method: .get)
            #expect(first.status == .ok)
            let doc = try json(first.body)
            let results = try #require(doc["results"] as? [[String: Any]])
            #expect(results.count == 50)
            #expect(doc["next_url"] as? String != nil)
            let again = try await client.execute(uri: path, method: .get)
            #expect(again.body == first.body, "same seed, same bars")
            let day = TradingCalendar.Day(ordinal: (results[0]["t"] as! Int) / 86_400_000)
            #expect(day.description == "2024-01-02", "2024-01-01 is a holiday")
            for r in results { #expect((r["h"] as! Double) >= (r["l"] as! Double)) }
        }
        let (other, _) = simulator {
            $0.rateLimit = nil
            $0.seed = 2
        }
        try await other.test(.router) { client in
            let r = try await client.execute(uri: path, method: .get)
            #expect(try json(r.body)["results"] as? [[String: Any]] != nil)
        }
    }

    @Test(arguments: ProviderSimulatorConfiguration.HeaderStyle.allCases)
    func overTheLimitComes429WithParseableHeaders(_ style: ProviderSimulatorConfiguration.HeaderStyle) async throws {
        let (app, state) = simulator {
            $0.rateLimit = (3, .seconds(60))
            $0.headerStyle = style
        }
        try await app.test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            var last: TestResponse?
            for _ in 0..<5 {
                let r = try await client.execute(
                    uri: "/v2/aggs/ticker/MSFT/range/1/day/2024-03-01/2024-03-08",
                    method: .get
                )
                statuses.append(r.status)
                last = r
            }
            #expect(statuses == [.ok, .ok, .ok, .tooManyRequests, .tooManyRequests])
            let headers = last!.headers.map { (name: $0.name.rawName, value: $0.value) }
            let snapshot = RateLimitHeaders.parse(headers, now: Date())
            #expect(snapshot.remaining == 0)
            #expect(snapshot.retryAfter != nil && snapshot.retryAfter! > .zero && snapshot.retryAfter! <= .seconds(60))
            if style == .ietf { #expect(snapshot.limit == 3 && snapshot.window == .seconds(60)) }
        }
        #expect(await state.rateLimited == 2)
        #expect(await state.requests == 5)
    }

    @Test func faultsAreSwitchedOnDemand() async throws {
        let (app, _) = simulator { $0.rateLimit = nil }
        try await app.test(.router) { client in
            let path = "/v2/aggs/ticker/NVDA/range/1/day/2024-03-01/2024-03-29"
            _ = try await client.execute(uri: "/admin/down", method: .post)
            #expect(try await client.execute(uri: path, method: .get).status == .serviceUnavailable)
            _ = try await client.execute(uri: "/admin/up", method: .post)
            #expect(try await client.execute(uri: path, method: .get).status == .ok)
            _ = try await client.execute(
                uri: "/admin/faults",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"down":false,"timeoutRate":0,"malformedRate":1,"impossibleRate":0}"#)
            )
            let malformed = try await client.execute(uri: path, method: .get)
            #expect((try? JSONSerialization.jsonObject(with: Data(malformed.body.readableBytesView))) == nil)
            _ = try await client.execute(
                uri: "/admin/faults",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"down":false,"timeoutRate":0,"malformedRate":0,"impossibleRate":1}"#)
            )
            let impossible = try json(try await client.execute(uri: path, method: .get).body)
            let bars = try #require(impossible["results"] as? [[String: Any]])
            #expect(bars.contains { ($0["h"] as! Double) < ($0["l"] as! Double) })
        }
    }

    @Test func aPartialFaultsBodyChangesOnlyItsKeysAndRatesAreShares() async throws {
        let (app, state) = simulator { $0.rateLimit = nil }
        try await app.test(.router) { client in
            let post: (String) async throws -> HTTPResponse.Status = { body in
                try await client.execute(
                    uri: "/admin/faults",
                    method: .post,
                    headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ).status
            }
            let partial = try await post(#"{"malformedRate":0.5}"#)
            let down = try await post(#"{"down":true}"#)
            #expect(partial == .ok && down == .ok)
            var f = await state.faults
            #expect(f.malformedRate == 0.5 && f.down && f.timeoutRate == 0)
            let tooHigh = try await post(#"{"timeoutRate":2}"#)
            let notBool = try await post(#"{"down":"yes"}"#)
            #expect(tooHigh == .badRequest && notBool == .badRequest)
            f = await state.faults
            #expect(f.timeoutRate == 0)
        }
    }

    @Test func optionsParse() {
        #expect(ProviderSimulatorConfiguration.parseRateLimit("5/1m")??.window == .seconds(60))
        #expect(ProviderSimulatorConfiguration.parseRateLimit("50/1s")??.count == 50)
        #expect(ProviderSimulatorConfiguration.parseRateLimit("none") != nil)
        #expect(ProviderSimulatorConfiguration.parseRateLimit("5 per minute") == nil)
        #expect(
            ProviderSimulatorConfiguration.parseLatency("20ms-80ms") == .uniform(.milliseconds(20), .milliseconds(80))
        )
        #expect(ProviderSimulatorConfiguration.parseLatency("50ms") == .fixed(.milliseconds(50)))
    }
}
