import NIOCore
import NIOPosix

/// What one probe request found out about the endpoint.
public struct ProbeResult: Sendable, Equatable {
    /// False when the endpoint does not exist (refused, unresolvable, no answer, 404, 405, 501).
    public var exists: Bool
    /// One line for the banner and the report, e.g. `endpoint returned 404`.
    public var reason: String
    public var status: Int?
    public var error: String?
    public var latencyMs: Double?

    public var info: Report.ProbeInfo { Report.ProbeInfo(status: status, error: error, latencyMs: latencyMs) }
}

/// Decides whether the endpoint under test exists (SPEC §6) with one request and a short timeout.
///
/// Only "nothing is there" leads to the mock: a connection refused, a host that does not resolve, no answer within
/// the timeout, or 404/405/501. Any other answer — 2xx, 3xx, 401, 403, 429, 5xx, even a TLS error or a reset
/// connection — means something is serving there, and a failing endpoint is tested, never mocked.
public enum EndpointProbe {
    public static func probe(_ scenario: Scenario, seed: UInt64, on eventLoop: any EventLoop) async -> ProbeResult {
        let timeout = scenario.transport.probeTimeout
        var http = scenario.http
        http.connectTimeout = min(http.connectTimeout, timeout)
        let transport: NIOHTTPTransport
        do {
            transport = try NIOHTTPTransport(target: scenario.target.baseURL, http: http)
        } catch {
            return ProbeResult(
                exists: true,
                reason: "the probe could not start (\(error)); testing the real target",
                error: "\(error)"
            )
        }
        if let resolution = transport.resolutionError {
            return ProbeResult(exists: false, reason: resolution, error: "dns")
        }
        let plan = RequestPlan(scenario: scenario, seed: seed)
        let index = scenario.transport.probeRequest.flatMap { name in plan.requestNames.firstIndex(of: name) } ?? 0
        // The probe uses the last data row: what it leaves in a server-side cache is then requested last in a
        // sequential run, not first.
        let lastRow = max(0, (scenario.data.map(\.values.count).max() ?? 1) - 1)
        let request = plan.prepare(request: index, iteration: lastRow, vu: 0, timeout: timeout)
        let started = NIODeadline.now()
        let outcome: HTTPOutcome = await withCheckedContinuation { continuation in
            eventLoop.execute {
                let connection = transport.makeConnection(on: eventLoop)
                connection.send(request) { outcome in
                    connection.close()
                    continuation.resume(returning: outcome)
                }
            }
        }
        let latency = Double((NIODeadline.now() - started).nanoseconds) / 1e6
        return classify(outcome, latencyMs: latency, target: scenario.target.baseURL, timeout: timeout)
    }

    /// The decision for one probe outcome; pure, so every case is tested without a network.
    static func classify(_ outcome: HTTPOutcome, latencyMs: Double, target: TargetURL, timeout: Double) -> ProbeResult {
        if let error = outcome.error {
            switch error {
            case .connect:
                return ProbeResult(
                    exists: false,
                    reason: "cannot connect to \(target.hostHeader)",
                    error: error.name,
                    latencyMs: latencyMs
                )
            case .timeout:
                return ProbeResult(
                    exists: false,
                    reason: "no answer within \(DurationText.format(seconds: timeout))",
                    error: error.name,
                    latencyMs: latencyMs
                )
            default:
                return ProbeResult(
                    exists: true,
                    reason: "the probe got a \(error.name) error: something is serving there, so it is tested",
                    status: outcome.status == 0 ? nil : outcome.status,
                    error: error.name,
                    latencyMs: latencyMs
                )
            }
        }
        if [404, 405, 501].contains(outcome.status) {
            return ProbeResult(
                exists: false,
                reason: "endpoint returned \(outcome.status)",
                status: outcome.status,
                latencyMs: latencyMs
            )
        }
        return ProbeResult(
            exists: true,
            reason: "endpoint answered \(outcome.status)",
            status: outcome.status,
            latencyMs: latencyMs
        )
    }
}
