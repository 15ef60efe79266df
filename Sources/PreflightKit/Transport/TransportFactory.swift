import PreflightCore

/// Makes every transport Preflight sends through from the settings: the load path's transport to the real target,
/// the mock, and the one-shot client of the probe, the drill's probes and canary, the scraper and the demo.
///
/// The one place that knows which protocol a target speaks: a new protocol (HTTP/2) is a new transport folder and a
/// branch here, and nothing above it changes, because every caller hands over `RequestMessage`s.
public struct TransportFactory: Sendable {
    /// Where requests go.
    public var target: TargetURL
    /// Timeouts, body cap and TLS verification.
    public var http: HTTPSettings

    public init(target: TargetURL, http: HTTPSettings = HTTPSettings()) {
        self.target = target
        self.http = http
    }

    /// The factory for a scenario's target and `http` settings.
    public init(scenario: Scenario) {
        self.init(target: scenario.target.baseURL, http: scenario.http)
    }

    /// The load path's transport to the real target: HTTP/1.1 (one keep-alive connection per VU) or HTTP/2
    /// (shared connections). Resolves the host now; a host that does not resolve gives a transport whose every
    /// connect fails (`resolutionError`). `auto` is resolved by `negotiated()` first; left unresolved it is
    /// HTTP/1.1.
    public func real() throws -> any Transport {
        switch http.version {
        case .http1_1, .auto: try NIOHTTPTransport(target: target, http: http)
        case .http2: try HTTP2Transport(target: target, http: http)
        }
    }

    /// The latency-simulating mock for `scenario` (SPEC §6), seeded.
    public static func mock(_ scenario: Scenario, seed: UInt64) -> MockTransport {
        MockTransport(scenario: scenario, seed: seed)
    }

    /// A client that sends each request on a new connection and closes it after the answer; `headers` go on every
    /// request (the target's), and connecting may take at most `connectTimeout` (and never more than `http`'s).
    func oneShot(headers: [(name: String, value: String)] = [], connectTimeout: Double) throws -> OneShotHTTP {
        var settings = http
        settings.connectTimeout = min(http.connectTimeout, connectTimeout)
        return OneShotHTTP(transport: try TransportFactory(target: target, http: settings).real(), headers: headers)
    }
}
