import Foundation

/// A validated load scenario: everything the engine needs, nothing left to check at run time.
public struct Scenario: Sendable {
    public var name: String
    public var description: String?
    /// The file the scenario came from, as given on the command line.
    public var file: String
    /// SHA-256 of the file's bytes, so a report names exactly what ran.
    public var sha256: String
    public var target: Target
    public var transport: TransportSettings
    public var http: HTTPSettings
    public var data: [DataFeed]
    /// One request per iteration chosen by weight, or, with `flow`, the flow's steps in order.
    public var requests: [RequestTemplate]
    /// The flow (SPEC §14): step `k` sends `requests[k]`; nil for a scenario of weighted requests.
    public var flow: [FlowStep]? = nil
    public var warmup: Warmup?
    public var load: LoadSettings
    public var thresholds: [ThresholdSpec]
    /// Values masked in every output of the run (README "Secrets").
    public var secrets = Secrets()
    /// The `${NAME}` variables the file referenced (expanded or defaulted).
    public var referencedVariables: Set<String> = []
    /// Warnings found while loading (a `PREFLIGHT_TARGET` the file ignores), for stderr and the report.
    public var loadWarnings: [String] = []
}

/// Where requests go.
public struct Target: Sendable {
    public var baseURL: TargetURL
    /// Headers added to every request (request headers override them by name).
    public var headers: [(name: String, value: String)]
    /// The target's Prometheus endpoint to scrape during the run (`target.metrics`), if any.
    public var metrics: ServerMetricsSpec? = nil
}

/// A parsed `http://` or `https://` base URL.
public struct TargetURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" for none).
    public var basePath: String

    public var isTLS: Bool { scheme == "https" }

    /// The value of the Host header: the port is omitted when it is the scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (port == (isTLS ? 443 : 80)) ? h : "\(h):\(port)"
    }

    public var description: String { "\(scheme)://\(hostHeader)\(basePath)" }

    /// Parses a `--target` option for `file`: a usage problem at the path `--target` when it is not usable.
    public static func override(_ text: String, file: String) throws(ScenarioError) -> TargetURL {
        switch parse(text) {
        case .success(let url): return url
        case .failure(let r):
            throw ScenarioError(
                file: file,
                problems: [.init(path: "--target", message: "\"\(masked(text))\" \(r.message)", hint: r.hint)]
            )
        }
    }

    /// `text` with the userinfo of a URL (`user:password@`) replaced by `***`, for messages.
    public static func masked(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let authorityEnd =
            text[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? text.endIndex
        guard let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + Secrets.mask + String(text[at...])
    }

    /// Parses a base URL; returns nil with a reason when it is not usable.
    public static func parse(_ text: String) -> Result<TargetURL, ScenarioProblem.Reason> {
        guard let comps = URLComponents(string: text), let scheme = comps.scheme?.lowercased() else {
            return .failure(.init("is not a URL", hint: "write it as http://host:port"))
        }
        guard scheme == "http" || scheme == "https" else {
            return .failure(.init("scheme must be http or https, got \(scheme)"))
        }
        guard let host = comps.host, !host.isEmpty else {
            return .failure(.init("has no host", hint: "write it as \(scheme)://host:port"))
        }
        // Credentials in the URL would be dropped silently (curl would send them as Basic auth); say so instead.
        if comps.user != nil || comps.password != nil {
            return .failure(
                .init(
                    "has credentials in it (user:password@), which are not sent",
                    hint: "send them as a header, e.g. \"Authorization\": \"Basic ${BASIC_AUTH}\", and drop them here"
                )
            )
        }
        if comps.query != nil || comps.fragment != nil {
            return .failure(.init("must not have a query or fragment", hint: "put those in the request path"))
        }
        var path = comps.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        let bareHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        return .success(
            TargetURL(
                scheme: scheme,
                host: bareHost,
                port: comps.port ?? (scheme == "https" ? 443 : 80),
                basePath: path
            )
        )
    }

    package init(scheme: String, host: String, port: Int, basePath: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }
}

/// How the transport is chosen (SPEC §6).
public struct TransportSettings: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case auto, real, mock }
    /// `auto` probes the endpoint and mocks it only when it does not exist.
    public var mode: Mode = .auto
    /// The request used to probe the endpoint in `auto` mode (defaults to the first request).
    public var probeRequest: String?
    /// Seconds the probe waits for a connection and an answer.
    public var probeTimeout: Double = 2
    /// Statuses that mean "no endpoint here" (`transport.probe.missingStatuses`; SPEC §6's 404, 405, 501). A 404
    /// is still compared with the answer to a path that cannot exist before it counts.
    public var missingStatuses: Set<Int> = TransportSettings.defaultMissingStatuses
    public static let defaultMissingStatuses: Set<Int> = [404, 405, 501]
    public var mock = MockSettings()
}

/// The latency-simulating mock transport: latencies, responses and injected errors.
public struct MockSettings: Sendable {
    /// A latency distribution, in seconds. `min`/`max` truncate by redrawing, never by clamping.
    public enum Latency: Sendable, Equatable {
        case lognormal(median: Double, p99: Double, min: Double, max: Double)
        case uniform(min: Double, max: Double)
        case fixed(Double)

        /// The name and parameters for the report (milliseconds).
        public var description: (name: String, params: [String: Double]) {
            switch self {
            case .lognormal(let median, let p99, let min, let max):
                var p = ["medianMs": median * 1000, "p99Ms": p99 * 1000, "minMs": min * 1000]
                if max.isFinite { p["maxMs"] = max * 1000 }
                return ("lognormal", p)
            case .uniform(let min, let max): return ("uniform", ["minMs": min * 1000, "maxMs": max * 1000])
            case .fixed(let v): return ("fixed", ["valueMs": v * 1000])
            }
        }
    }

    public enum ErrorKind: Sendable, Equatable {
        /// Answer with this status (503 by default).
        case status(Int)
        /// Break the connection (error class `reset`).
        case reset
    }

    /// One request's canned answer; placeholders are filled from the request's own data.
    public struct Response: Sendable {
        public var status = 200
        public var headers: [(name: String, value: Template)] = []
        public var body = BodyTemplate.text(Template(literal: ""))

        public init(
            status: Int = 200,
            headers: [(name: String, value: Template)] = [],
            body: BodyTemplate = .text(Template(literal: ""))
        ) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// Default: lognormal, median 120 ms, p99 300 ms, truncated to [50 ms, 300 ms].
    public var latency = Latency.lognormal(median: 0.120, p99: 0.300, min: 0.050, max: 0.300)
    /// Share of requests answered with `errorKind` instead of the response.
    public var errorRate = 0.0
    public var errorKind = ErrorKind.status(503)
    /// By request name; a request without one gets 200 with an empty body.
    public var responses: [String: Response] = [:]
}

/// Client-side HTTP limits.
public struct HTTPSettings: Sendable {
    /// Seconds allowed for a TCP (and TLS) connection to be established.
    public var connectTimeout: Double = 10
    /// Seconds allowed for a whole request, from send to the last byte of the response.
    public var timeout: Double = 60
    /// Response bodies beyond this many bytes are drained and counted but not kept for checks.
    public var maxBodyBytes: Int = 1 << 20
    /// Skip TLS certificate verification (for staging hosts with self-signed certificates).
    public var insecureSkipVerify: Bool = false
    /// A flow keeps a cookie jar per VU and iteration (`Set-Cookie` stored, `Cookie` sent back).
    public var cookies: Bool = true
    /// Redirects followed per request (k6's default 10); 0 records the 3xx as the answer.
    public var redirects: Int = 10
    /// The protocol spoken to the target (SPEC §15).
    public var version = HTTPVersion.http1_1
    /// HTTP/2 connections each event loop opens at most; its VUs share them, a stream per request.
    public var connections: Int = 1

    public init() {}
}

/// `http.version`: HTTP/1.1 (one keep-alive connection per VU), HTTP/2 (shared connections, a stream each), or
/// `auto`: what ALPN chooses over TLS, once per run (`TransportFactory.negotiated`), HTTP/1.1 without TLS.
public enum HTTPVersion: String, Sendable, CaseIterable {
    case http1_1 = "1.1"
    case http2 = "2"
    case auto
}

/// A values feed for `{{name}}` placeholders.
public struct DataFeed: Sendable {
    public enum Order: String, Sendable, CaseIterable { case sequential, random, unique }
    public var name: String
    /// Each value's text, as sent in a path, a header or inside a string.
    public var values: [String]
    /// Each value's JSON type, used where a JSON body has the placeholder as a whole value (`"{{n}}"`).
    public var types: [ValueType]
    public var order: Order

    public init(name: String, values: [String], types: [ValueType]? = nil, order: Order) {
        self.name = name
        self.values = values
        self.types = types ?? Array(repeating: .string, count: values.count)
        self.order = order
    }
}

/// The JSON type a placeholder's value takes in a JSON body.
public enum ValueType: Sendable, Equatable {
    case string, number, bool

    /// The type a CSV reader would give the text: a JSON number is a number, `true`/`false` booleans, else text.
    /// "007" and "1e" stay text, so ids with leading zeros survive.
    public static func inferred(from text: String) -> ValueType {
        if text == "true" || text == "false" { return .bool }
        return JSONEscape.isNumber(text) ? .number : .string
    }
}

/// A request or mock body: text with placeholders, or a JSON document with typed placeholders.
public enum BodyTemplate: Sendable, Equatable {
    case text(Template)
    case json(JSONBodyTemplate)

    public var variables: [String] {
        switch self {
        case .text(let t): t.variables
        case .json(let j): j.variables
        }
    }

    public var isConstant: Bool { variables.isEmpty }
}

/// One named request of a scenario; iterations choose among requests by weight.
public struct RequestTemplate: Sendable {
    public var name: String
    public var method: String
    /// Path and query after the base URL's path, with placeholders.
    public var path: Template
    public var headers: [(name: String, value: Template)]
    public var body: BodyTemplate?
    public var weight: Int
    public var checks: [Check]
    /// Overrides `http.timeout` for this request.
    public var timeout: Double?
}

/// Warm-up requests are sent before measuring and are not part of any metric.
public struct Warmup: Sendable {
    public var requests: Int
}

/// A check on a response. A failed check counts in the `checks` metric and as error class `check`.
public struct Check: Sendable {
    public enum Kind: Sendable {
        /// The status is one of these.
        case status([Int])
        /// A JSON path into the body.
        case json(JSONPath, Assertion)
        /// The body contains the text.
        case bodyContains(Template)
        /// A response header (case-insensitive name).
        case header(String, Assertion)
    }

    public enum Assertion: Sendable {
        case equals(JSONValue, Template?)
        case exists(Bool)
        case matches(String)
    }

    public var kind: Kind
    /// A readable label for reports, like k6's check names: `status == 200`, `$.symbol == {{symbol}}`.
    public var label: String

    /// Whether evaluating this check needs the response headers.
    public var needsHeaders: Bool {
        if case .header = kind { return true }
        return false
    }

    /// Whether evaluating this check needs the response body.
    public var needsBody: Bool {
        switch kind {
        case .json, .bodyContains: true
        case .status, .header: false
        }
    }
}
