import Foundation
import NIOCore
import NIOHTTP1
import PreflightCore

/// What one probe request found out about the endpoint: the decision, and what the report records of the answer
/// (`info`, whose fields read as the result's own: `result.status`).
@dynamicMemberLookup
public struct ProbeResult: Sendable, Equatable {
    /// False when the endpoint does not exist (refused, unresolvable, no answer, 404, 405, 501).
    public var exists: Bool
    /// One line for the banner and the report, e.g. `endpoint returned 404`.
    public var reason: String
    /// What the probe saw, as `transport.probe` in the report.
    public var info: ProbeInfo
    /// What to do when the decision to mock is wrong, for the banner and the report's warnings.
    public var advice: String?

    public init(
        exists: Bool,
        reason: String,
        status: Int? = nil,
        error: String? = nil,
        latencyMs: Double? = nil
    ) {
        self.exists = exists
        self.reason = reason
        self.info = ProbeInfo(status: status, error: error, latencyMs: latencyMs)
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<ProbeInfo, T>) -> T {
        get { info[keyPath: path] }
        set { info[keyPath: path] = newValue }
    }
}

/// Decides whether the endpoint under test exists (SPEC §6) with one request and a short timeout.
///
/// Only "nothing is there" leads to the mock: a connection refused, a host that does not resolve, no answer within
/// the timeout, or 404/405/501. Any other answer — 2xx, 3xx, 401, 403, 429, 5xx, even a TLS error or a reset
/// connection — means something is serving there, and a failing endpoint is tested, never mocked.
public enum EndpointProbe {
    public static func probe(_ scenario: Scenario, seed: UInt64) async -> ProbeResult {
        var result = await decide(scenario, seed: seed)
        result.missingStatuses = scenario.transport.missingStatuses.sorted()
        if !result.exists { result.advice = advice(for: result, scenario: scenario) }
        return result
    }

    static func decide(_ scenario: Scenario, seed: UInt64) async -> ProbeResult {
        let timeout = scenario.transport.probeTimeout
        let client: OneShotHTTP
        do {
            client = try TransportFactory(scenario: scenario).oneShot(connectTimeout: timeout)
        } catch {
            return ProbeResult(
                exists: true,
                reason: "the probe could not start (\(error)); testing the real target",
                error: "\(error)"
            )
        }
        if let resolution = client.resolutionError {
            return ProbeResult(exists: false, reason: resolution, error: "dns")
        }
        let plan = RequestPlan(scenario: scenario, seed: seed)
        let index = scenario.transport.probeRequest.flatMap { name in plan.requestNames.firstIndex(of: name) } ?? 0
        let lastRow = probeIteration(scenario)
        var request = plan.prepare(request: index, iteration: lastRow, vu: 0, timeout: timeout)
        request.wantsBody = true
        request.wantsHeaders = true
        let started = NIODeadline.now()
        let outcome = await client.send(request)
        let latency = Double((NIODeadline.now() - started).nanoseconds) / 1e6
        var result = classify(
            outcome,
            latencyMs: latency,
            target: scenario.target.baseURL,
            timeout: timeout,
            missingStatuses: scenario.transport.missingStatuses
        )
        if let refusal = (client.transport as? HTTP2Transport)?.alpnRefusal {
            result.reason = HTTP2Transport.alpnMessage(refusal)
        }
        result.contentType = outcome.headers?.first(name: "content-type")
        result.bodySHA256 = outcome.body.map { SHA256.hex($0) }
        // Only a 404 is ambiguous (no such route, or no such resource on an existing route). A 405 or 501 says the
        // method is not served there: the endpoint as the scenario describes it (method and path) does not exist.
        guard !result.exists, let status = result.status, status == 404 else { return result }
        // A 404 from an application that knows the route ("no such symbol") differs from the answer to a path
        // that cannot exist; a missing route answers both alike. The decoys are the same request with another
        // path: the message is changed, never its bytes, so the probe holds for any protocol.
        let token = "preflight-probe-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        let base = scenario.target.baseURL.basePath
        let target = base + request.message.path
        let decoyPaths = [Self.replacingLastSegment(of: request.message.path, with: token), "/\(token)"]
        let decoyTargets = decoyPaths.map { base + $0 }
        var decoys: [ProbeAnswer] = []
        var differs = false
        for (n, decoyTarget) in decoyTargets.enumerated() {
            var decoy = request
            decoy.message.path = decoyPaths[n]
            decoy.isConstant = false  // not the plan's message any more
            let answer = await client.send(decoy)
            decoys.append(
                ProbeAnswer(
                    path: decoyTarget,
                    status: answer.status == 0 ? nil : answer.status,
                    error: answer.error?.name,
                    contentType: answer.headers?.first(name: "content-type"),
                    bodySHA256: answer.body.map { SHA256.hex($0) }
                )
            )
            // The root decoy decides: a path under no route at all. The other is recorded for the reader.
            if n == decoyTargets.count - 1 {
                differs = !Self.sameAnswer(outcome, target, answer, decoyTarget, token: token)
            }
        }
        result.decoys = decoys
        if differs {
            result.exists = true
            result.reason =
                "route exists: the application answered \(status) for this resource, and differently for a path "
                + "that cannot exist"
        } else {
            result.reason = "endpoint returned \(status), as does a path that cannot exist (\(decoyTargets[1]))"
        }
        return result
    }

    /// What to do when mocking is the wrong call: a 404 from the application itself (an unknown id, a backfill
    /// that has not reached it) or a target that is not up yet.
    static func advice(for result: ProbeResult, scenario: Scenario) -> String {
        let request = scenario.transport.probeRequest ?? scenario.requests.first?.name ?? "?"
        if let status = result.status {
            let list = scenario.transport.missingStatuses.sorted().map(String.init).joined(separator: ", ")
            return "if the application answered \(status) on purpose (an unknown id, data not loaded yet), point "
                + "transport.probe.request (now \"\(request)\") at a request that succeeds, or run with --mode real; "
                + "transport.probe.missingStatuses (now [\(list)]) sets which statuses mean a missing endpoint"
        }
        return "if the target should be up, start it or check --target; --mode real makes a missing target a "
            + "failing run instead of a mock one"
    }

    /// The probe uses the last data row: what it leaves in a server-side cache is then requested last in a
    /// sequential run, not first.
    public static func probeIteration(_ scenario: Scenario) -> Int {
        max(0, (scenario.data.map(\.values.count).max() ?? 1) - 1)
    }

    /// The scenario without the `unique` values the probe sent, so that "each value at most once" holds with the
    /// probe included.
    public static func removingProbedUniqueValues(_ scenario: Scenario, seed: UInt64) -> Scenario {
        var s = scenario
        let plan = RequestPlan(scenario: scenario, seed: seed)
        let row = probeIteration(scenario)
        for (f, feed) in scenario.data.enumerated() where feed.order == .unique && feed.values.count > 1 {
            let index = plan.valueIndex(feed: f, iteration: row) ?? 0
            s.data[f].values.remove(at: index)
            s.data[f].types.remove(at: index)
        }
        return s
    }

    /// `/a/b/c?x=1` with its last path segment replaced: `/a/b/TOKEN`.
    static func replacingLastSegment(of target: String, with token: String) -> String {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        guard let slash = path.lastIndex(of: "/") else { return "/\(token)" }
        return String(path[...slash]) + token
    }

    /// Whether two answers are the same once what each request put in them is blanked out: the same status,
    /// content type and body, the body's copy of its own path, path segments, and digit or hex runs (ids,
    /// timestamps, request ids) masked.
    static func sameAnswer(
        _ a: HTTPOutcome,
        _ aTarget: String,
        _ b: HTTPOutcome,
        _ bTarget: String,
        token: String
    ) -> Bool {
        guard a.status == b.status, a.error == b.error else { return false }
        let type: (HTTPOutcome) -> String? = {
            $0.headers?.first(name: "content-type")?.split(separator: ";").first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
        }
        guard type(a) == type(b) else { return false }
        return normalized(a.body, target: aTarget, token: token) == normalized(b.body, target: bTarget, token: token)
    }

    static func normalized(_ body: [UInt8]?, target: String, token: String) -> String {
        // Ids, UUIDs, timestamps and request ids first, in the body and in the pieces alike: a short path segment
        // ("B2") replaced before the masking could cut a UUID that happens to contain it.
        let mask: (String) -> String = {
            $0.replacingOccurrences(of: #"[0-9a-fA-F-]{8,}|[0-9]+"#, with: "#", options: .regularExpression)
        }
        var text = mask(body.map { String(decoding: $0, as: UTF8.self) } ?? "")
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        var pieces = [target, path, token]
        pieces += path.split(separator: "/").map(String.init).filter { $0.count >= 2 }
        pieces += pieces.compactMap { $0.removingPercentEncoding }
        for piece in Set(pieces.map(mask)).sorted(by: { $0.count > $1.count }) where piece.count >= 2 {
            text = text.replacingOccurrences(of: piece, with: "_")
        }
        return text
    }

    /// The decision for one probe outcome; pure, so every case is tested without a network.
    static func classify(
        _ outcome: HTTPOutcome,
        latencyMs: Double,
        target: TargetURL,
        timeout: Double,
        missingStatuses: Set<Int> = TransportSettings.defaultMissingStatuses
    ) -> ProbeResult {
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
        if missingStatuses.contains(outcome.status) {
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
