import Foundation
import NIOCore
import NIOHTTP1

/// Seeded mock latencies: the latency of request `i` (the iteration that sends it) of request name `n` depends
/// only on (seed, n, i), never on concurrency or timing, so a mock run can be replayed.
public struct MockLatencyModel: Sendable {
    public let latency: MockSettings.Latency
    /// The standard normal quantile at 0.99.
    static let z99 = 2.326_347_874_040_840_8

    public init(_ latency: MockSettings.Latency) { self.latency = latency }

    /// μ and σ of the underlying normal for `lognormal`.
    var parameters: (mu: Double, sigma: Double) {
        guard case .lognormal(let median, let p99, _, _) = latency else { return (0, 0) }
        return (log(median), (log(p99) - log(median)) / Self.z99)
    }

    /// The share of the untruncated distribution inside [min, max] (1 for uniform and fixed).
    public var massInBounds: Double {
        guard case .lognormal(_, _, let min, let max) = latency else { return 1 }
        let (mu, sigma) = parameters
        let cdf: (Double) -> Double = { x in
            x <= 0 ? 0 : (x.isInfinite ? 1 : 0.5 * erfc(-(log(x) - mu) / (sigma * 2.0.squareRoot())))
        }
        return cdf(max) - cdf(min)
    }

    /// The latency in seconds of request `index` of `name`.
    public func seconds(seed: UInt64, name: String, index: Int) -> Double {
        var rng = SplitMix64(
            seed: seed ^ SplitMix64.hash(name) ^ (UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15)
        )
        switch latency {
        case .fixed(let v):
            return v
        case .uniform(let min, let max):
            return min + (max - min) * unit(&rng)
        case .lognormal(_, _, let min, let max):
            let (mu, sigma) = parameters
            // Truncation redraws; the loader guarantees [min, max] holds at least 0.1 % of the mass, so 100,000
            // draws fail with probability below e^-100.
            for _ in 0..<100_000 {
                let u1 = 1 - unit(&rng)  // (0, 1]
                let u2 = unit(&rng)
                let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
                let x = exp(mu + sigma * z)
                if x >= min && x <= max { return x }
            }
            return Swift.min(max, Swift.max(min, exp(mu)))
        }
    }

    /// A uniform draw in [0, 1).
    private func unit(_ rng: inout SplitMix64) -> Double { Double(rng.next() >> 11) * 0x1.0p-53 }
}

/// The mock transport: answers every request with the scenario's mock response after a seeded latency, on the
/// same event loops and timers as the real transport (no thread per request, no blocking sleep).
public struct MockTransport: Transport {
    public let settings: MockSettings
    public let seed: UInt64
    let model: MockLatencyModel
    let plan: RequestPlan
    let names: [String]

    public init(scenario: Scenario, seed: UInt64) {
        settings = scenario.transport.mock
        self.seed = seed
        model = MockLatencyModel(settings.latency)
        plan = RequestPlan(scenario: scenario, seed: seed)
        names = scenario.requests.map(\.name)
    }

    /// What the report says about the mock.
    public var info: Report.MockInfo {
        var params = settings.latency.description.params
        if settings.errorRate > 0 { params["errorRate"] = settings.errorRate }
        return Report.MockInfo(distribution: settings.latency.description.name, params: params, seed: seed)
    }

    public func makeConnection(on eventLoop: any EventLoop) -> any VUConnection {
        MockConnection(eventLoop: eventLoop, transport: self)
    }

    /// Whether request `index` of `name` gets the injected error (seeded like the latency).
    func failsInjected(name: String, index: Int) -> Bool {
        guard settings.errorRate > 0 else { return false }
        // The seed is mixed first: XOR-ing a raw small seed with the index only permutes the indices, so seeds
        // 1, 2 and 7 drew the same number of errors.
        let draw = SplitMix64.mix(
            SplitMix64.mix(seed) ^ SplitMix64.hash("error:" + name) ^ UInt64(bitPattern: Int64(index))
                &* 0x9E37_79B9_7F4A_7C15
        )
        return Double(draw >> 11) * 0x1.0p-53 < settings.errorRate
    }

    /// The answer to a request, before its latency.
    func outcome(for request: PreparedRequest) -> HTTPOutcome {
        let name = names[request.requestIndex]
        var outcome = HTTPOutcome()
        if failsInjected(name: name, index: request.iteration) {
            switch settings.errorKind {
            case .reset:
                outcome.error = .reset
                return outcome
            case .status(let status):
                outcome.status = status
                outcome.headers = ["content-type": "application/json"]
                let body = #"{"error":{"code":"mock_error","message":"injected by the mock transport"}}"#
                outcome.body = request.wantsBody ? ByteBuffer(string: body) : nil
                outcome.bytesIn = body.utf8.count
                return outcome
            }
        }
        let response = settings.responses[name] ?? MockSettings.Response()
        outcome.status = response.status
        var headers = HTTPHeaders()
        for h in response.headers {
            headers.add(name: h.name, value: plan.render(h.value, iteration: request.iteration, vu: request.vu))
        }
        outcome.headers = headers
        let body = plan.render(response.body, iteration: request.iteration, vu: request.vu)
        outcome.bytesIn = body.utf8.count
        if request.wantsBody {
            var buffer = ByteBuffer(string: body)
            if buffer.readableBytes > plan.maxBodyBytes {
                buffer.moveWriterIndex(to: buffer.readerIndex + plan.maxBodyBytes)
                outcome.bodyTruncated = true
            }
            outcome.body = buffer
        }
        return outcome
    }
}

/// One VU's mock connection: a timer per request on the VU's event loop.
final class MockConnection: VUConnection {
    private let eventLoop: any EventLoop
    private let transport: MockTransport
    private var pending: (timer: Scheduled<Void>, completion: (HTTPOutcome) -> Void)?

    init(eventLoop: any EventLoop, transport: MockTransport) {
        self.eventLoop = eventLoop
        self.transport = transport
    }

    func send(_ request: PreparedRequest, completion: @escaping (HTTPOutcome) -> Void) {
        let name = transport.names[request.requestIndex]
        let latency = transport.model.seconds(seed: transport.seed, name: name, index: request.iteration)
        var outcome = transport.outcome(for: request)
        if latency > request.timeout {
            outcome = HTTPOutcome()
            outcome.error = .timeout
        }
        let delay = TimeAmount.nanoseconds(Int64(min(latency, request.timeout) * 1e9))
        let timer = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            pending = nil
            completion(outcome)
        }
        pending = (timer, completion)
    }

    func connect(completion: @escaping (ErrorClass?) -> Void) {
        eventLoop.assumeIsolated().execute { completion(nil) }
    }

    func close() {
        guard let (timer, completion) = pending else { return }
        pending = nil
        timer.cancel()
        var outcome = HTTPOutcome()
        outcome.abandoned = true
        completion(outcome)
    }
}
