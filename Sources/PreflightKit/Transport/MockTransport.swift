import Foundation
import NIOCore
import NIOHTTP1
import PreflightCore

/// The mock transport: answers every request with the scenario's mock response after a seeded latency, on the
/// same event loops and timers as the real transport (no thread per request, no blocking sleep).
public struct MockTransport: Transport {
    public let settings: MockSettings
    public let seed: UInt64
    let model: MockLatencyModel
    let plan: RequestPlan
    let names: [String]
    /// The real transport's target: the mock counts the bytes HTTP/1.1 would send there.
    let target: TargetURL
    /// The scenario asks for HTTP/2: the mock's answers are labelled so (its bytes stay HTTP/1.1's).
    let http2: Bool

    public init(scenario: Scenario, seed: UInt64) {
        settings = scenario.transport.mock
        self.seed = seed
        model = MockLatencyModel(settings.latency)
        plan = RequestPlan(scenario: scenario, seed: seed)
        names = scenario.requests.map(\.name)
        target = scenario.target.baseURL
        http2 = scenario.http.version == .http2
    }

    /// What the report says about the mock.
    public var info: MockInfo {
        var params = settings.latency.description.params
        if settings.errorRate > 0 { params["errorRate"] = settings.errorRate }
        return MockInfo(distribution: settings.latency.description.name, params: params, seed: seed)
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
        outcome.bytesOut = HTTP1Encoder.encoded(request, target: target).readableBytes
        if failsInjected(name: name, index: request.iteration) {
            switch settings.errorKind {
            case .reset:
                outcome.error = .reset
                return outcome
            case .status(let status):
                outcome.status = status
                outcome.headers = ["content-type": "application/json"]
                let body = #"{"error":{"code":"mock_error","message":"injected by the mock transport"}}"#
                outcome.body = request.wantsBody ? Array(body.utf8) : nil
                outcome.bytesIn = body.utf8.count
                return outcome
            }
        }
        let response = settings.responses[name] ?? MockSettings.Response()
        outcome.status = response.status
        var headers = ResponseHeaders()
        for h in response.headers {
            headers.add(name: h.name, value: plan.render(h.value, iteration: request.iteration, vu: request.vu))
        }
        outcome.headers = headers
        let body = plan.render(response.body, iteration: request.iteration, vu: request.vu)
        outcome.bytesIn = body.utf8.count
        if request.wantsBody {
            var bytes = Array(body.utf8)
            if bytes.count > plan.maxBodyBytes {
                bytes.removeLast(bytes.count - plan.maxBodyBytes)
                outcome.bodyTruncated = true
            }
            outcome.body = bytes
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
            let sent = outcome.bytesOut
            outcome = HTTPOutcome()
            outcome.bytesOut = sent
            outcome.error = .timeout
        }
        let delay = TimeAmount.nanoseconds(Int64(min(latency, request.timeout) * 1e9))
        // The mock's latency model stands for the server's time: all of it is `waiting`, no connection is made.
        outcome.phases.waiting = delay.nanoseconds
        outcome.http2 = transport.http2
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
