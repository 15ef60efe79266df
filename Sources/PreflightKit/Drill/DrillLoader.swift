import Foundation
import PreflightCore

/// Reads drill files (`"kind": "drill"`, SPEC §5) and reports every problem at once, with its JSON path and a hint,
/// before anything runs — an action whose program is not on PATH included.
public struct DrillLoader: Sendable {
    public var variables: [String: String]
    public var environment: [String: String]
    /// Names given with `--secret`: their values are masked in every output whatever the name.
    public var secretNames: Set<String>

    public init(
        variables: [String: String] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        secretNames: Set<String> = []
    ) {
        self.variables = variables
        self.environment = environment
        self.secretNames = secretNames
    }

    static let topLevelKeys = [
        "$schema", "kind", "name", "description", "target", "http", "steadyState", "background", "canary", "fault",
        "recovery", "rollback", "slo", "objectives",
    ]

    /// Whether a file is a drill (its `kind` is `"drill"`), read without validating it.
    public static func isDrill(file: String) -> Bool { DocumentKind.isDrill(file: file) }

    public func load(file: String) throws(ScenarioError) -> Drill {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ScenarioError(file: file, problems: [.init(path: "$", message: "cannot read the file")])
        }
        return try load(data: data, file: file, baseDirectory: URL(fileURLWithPath: file).deletingLastPathComponent())
    }

    public func load(data: Data, file: String, baseDirectory: URL) throws(ScenarioError) -> Drill {
        let diag = Diagnostics()
        let raw: JSONValue
        do {
            raw = try JSONValue.parseFast(data)
        } catch {
            throw ScenarioError(
                file: file,
                problems: [
                    .init(path: "$", message: "is not valid JSON: \(ScenarioLoader.describe(error, in: data))")
                ]
            )
        }
        let expander = VariableExpander(variables: variables, environment: environment)
        let doc = expander.expand(raw, path: "$", diag: diag)
        let reader = Reader(diag: diag, baseDirectory: baseDirectory, expander: expander)
        let path = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let drill = reader.drill(
            JSONNode(value: doc, path: "$", diag: diag),
            file: file,
            sha256: SHA256.hex(data),
            searchPath: path
        )
        var secrets = expander.secrets(named: secretNames)
        if let d = drill {
            let canaryHeaders = d.canary.map { $0.write.headers + $0.read.headers } ?? []
            secrets = secrets.union(
                ScenarioLoader.credentialSecrets(
                    headers: d.target.headers + d.steadyState.probe.headers,
                    templated: (d.background?.requests.flatMap(\.headers) ?? []) + canaryHeaders,
                    data: d.background?.data ?? []
                )
            )
        }
        ScenarioLoader.checkNameHoldsNoSecret(doc, secrets: secrets, diag: diag)
        guard diag.problems.isEmpty, var drill else {
            throw ScenarioError(file: file, problems: diag.problems.map { $0.redacted(secrets) })
        }
        drill.secrets = secrets
        drill.background?.secrets = secrets
        return drill
    }

    /// The executable `program` names: a path as given, or the first match on `searchPath`.
    static func resolve(_ program: String, searchPath: String) -> String? {
        let fm = FileManager.default
        if program.contains("/") { return fm.isExecutableFile(atPath: program) ? program : nil }
        for dir in searchPath.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(program)"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension Reader {
    func drill(_ root: JSONNode, file: String, sha256: String, searchPath: String) -> Drill? {
        guard let obj = root.object(keys: DrillLoader.topLevelKeys) else { return nil }
        if let kind = obj.required("kind", hint: "drills say \"kind\": \"drill\""), let k = kind.string(),
            k != "drill"
        {
            kind.fail("must be \"drill\" here, got \"\(k)\"", hint: "run load scenarios with `preflight run`")
        }
        let name = obj.required("name", hint: "a short id used in report folder names").flatMap(scenarioName)
        let description = obj.optional("description")?.string(nonEmpty: false)
        let targetValue = obj.required("target").flatMap(self.target)
        let httpValue = obj.optional("http").map(self.http) ?? HTTPSettings()
        let steady = obj.required("steadyState", hint: "a probe that tells up from down").flatMap(self.steadyState)
        let interval = steady?.interval ?? 1
        let background = obj.optional("background").flatMap {
            self.backgroundScenario($0, name: name ?? "drill", http: httpValue, sha256: sha256, file: file)
        }
        let canary = obj.optional("canary").flatMap(self.canary)
        let faultValue = obj.required("fault", hint: "when and how to break the target").flatMap {
            self.fault($0, interval: interval, searchPath: searchPath)
        }
        let recoveryValue = obj.required(
            "recovery",
            hint: "how recovery is seen: {\"healthy\": {...}, \"timeout\": \"120s\"}"
        )
        .flatMap { self.recovery($0, searchPath: searchPath) }
        let rollback = obj.optional("rollback").flatMap { node -> Drill.Action? in
            guard let o = node.object(keys: ["action"]) else { return nil }
            return o.required("action").flatMap { action($0, defaultTimeout: 60, searchPath: searchPath) }
        }
        var slo = Drill.SLO()
        if let s = obj.optional("slo"), let o = s.object(keys: ["tolerance", "window"]) {
            if let t = o.optional("tolerance")?.number(atLeast: 1, atMost: 1000) { slo.tolerance = t }
            if let w = o.optional("window")?.duration() { slo.window = w }
        }
        let objectiveList = obj.optional("objectives").map { self.objectives($0, hasCanary: canary != nil) } ?? []
        if objectiveList.contains(where: { $0.kind == .sloRecovered }), obj.optional("background") == nil {
            diag.add("$.objectives.sloRecovered", "needs a background load to measure", hint: "add \"background\"")
        }
        guard let name, let targetValue, let steady, let faultValue, let recoveryValue else { return nil }
        var bgScenario = background
        bgScenario?.target = targetValue
        return Drill(
            name: name,
            description: description ?? nil,
            file: file,
            sha256: sha256,
            target: targetValue,
            http: httpValue,
            steadyState: steady,
            background: bgScenario,
            canary: canary,
            fault: faultValue,
            recovery: recoveryValue,
            rollback: rollback,
            slo: slo,
            objectives: objectiveList
        )
    }

    func steadyState(_ node: JSONNode) -> Drill.SteadyState? {
        guard let o = node.object(keys: ["probe", "interval", "mustHoldFor", "timeout"]) else { return nil }
        let interval = o.optional("interval")?.duration() ?? 1
        let hold = o.optional("mustHoldFor")?.duration() ?? 3
        let timeout = o.optional("timeout")?.duration() ?? max(30, hold * 3)
        if timeout < hold {
            diag.add(o.node.child("timeout"), "must be at least mustHoldFor", hint: "the probe needs that long to hold")
        }
        guard let probe = o.required("probe", hint: "e.g. {\"path\": \"/readyz\"}").flatMap({ probe($0, interval) })
        else { return nil }
        return Drill.SteadyState(probe: probe, interval: interval, mustHoldFor: hold, timeout: timeout)
    }

    func probe(_ node: JSONNode, _ interval: Double) -> Drill.Probe? {
        guard let o = node.object(keys: ["method", "path", "headers", "expectStatus", "timeout"]) else { return nil }
        let method = o.optional("method").flatMap(httpMethod) ?? "GET"
        let path = o.required("path", hint: "e.g. /readyz").flatMap(constantPath)
        let headers = o.optional("headers").map(staticHeaders) ?? []
        var expect = [200]
        if let e = o.optional("expectStatus"), let items = e.array() {
            let codes = items.compactMap { $0.integer(atLeast: 100, atMost: 599) }
            if codes.isEmpty { e.fail("must list at least one status") } else { expect = codes }
        }
        var timeout = interval
        if let t = o.optional("timeout"), let d = t.duration() {
            if d > interval {
                t.fail(
                    "must not be longer than the interval (\(DurationText.format(seconds: interval)))",
                    hint: "a probe that outlives its interval would hide when the target came back"
                )
            } else {
                timeout = d
            }
        }
        guard let path else { return nil }
        return Drill.Probe(method: method, path: path, headers: headers, expectStatus: expect, timeout: timeout)
    }

    func httpMethod(_ node: JSONNode) -> String? {
        guard let s = node.string() else { return nil }
        guard s.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            node.fail("must be an upper-case HTTP method, got \"\(s)\"", hint: "e.g. GET, POST")
            return nil
        }
        return s
    }

    func constantPath(_ node: JSONNode) -> String? {
        guard let s = node.string() else { return nil }
        guard s.hasPrefix("/"), !s.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            node.fail("must start with / and have no spaces, got \"\(s)\"", hint: "it is appended to target.baseURL")
            return nil
        }
        return s
    }

    /// The background block is a load scenario without its own target: it is read by the scenario reader, so
    /// its problems carry paths like `$.background.load.rate`.
    func backgroundScenario(
        _ node: JSONNode,
        name: String,
        http: HTTPSettings,
        sha256: String,
        file: String
    )
        -> Scenario?
    {
        guard let o = node.object(keys: ["requests", "load", "data", "thresholds", "warmup"]) else { return nil }
        var dict = o.dict
        dict["name"] = .string(name)
        // A stand-in: the drill's own target replaces it; an invalid drill target is reported once, at $.target.
        dict["target"] = .object(["baseURL": .string("http://127.0.0.1")])
        dict["transport"] = .object(["mode": .string("real")])
        // Unlike a load scenario, no default thresholds: the outage is meant to fail requests.
        if dict["thresholds"] == nil { dict["thresholds"] = .object([:]) }
        var s = scenario(JSONNode(value: .object(dict), path: node.path, diag: diag), file: file, sha256: sha256)
        if s?.load.executor.capacitySearch != nil {
            diag.add(
                "\(node.path).load.executor",
                "a drill's background load holds its shape through the fault; a capacity-search changes its rate",
                hint: "use constant-arrival-rate, and run the search with preflight run"
            )
            return nil
        }
        s?.http = http
        return s
    }

    func canary(_ node: JSONNode) -> Drill.Canary? {
        guard let o = node.object(keys: ["write", "read", "interval", "readTimeout"]) else { return nil }
        let placeholders: Set<String> = ["seq", "firstSeq", "now"]
        let write = o.required("write", hint: "the request that stores seq").flatMap {
            canaryRequest($0, extraKeys: [], placeholders: placeholders)
        }
        var items = try! JSONPath.parse("$.canary").get()
        var seqField = "seq"
        let read = o.required("read", hint: "the request that lists stored seqs").flatMap { n -> Drill.CanaryRequest? in
            if case .object(let d) = n.value {
                if let i = d["items"] {
                    let itemsNode = JSONNode(value: i, path: n.child("items"), diag: diag)
                    if let text = itemsNode.string() {
                        switch JSONPath.parse(text) {
                        case .success(let p): items = p
                        case .failure(let r): diag.add(itemsNode.path, r)
                        }
                    }
                }
                if let f = d["seqField"], let s = JSONNode(value: f, path: n.child("seqField"), diag: diag).string() {
                    seqField = s
                }
            }
            return canaryRequest(n, extraKeys: ["items", "seqField"], placeholders: placeholders)
        }
        let interval = o.optional("interval")?.duration() ?? 0.1
        let readTimeout = o.optional("readTimeout")?.duration() ?? 30
        guard let write, let read else { return nil }
        return Drill.Canary(
            write: write,
            read: read,
            interval: interval,
            items: items,
            seqField: seqField,
            readTimeout: readTimeout
        )
    }

    func canaryRequest(_ node: JSONNode, extraKeys: [String], placeholders: Set<String>) -> Drill.CanaryRequest? {
        guard let o = node.object(keys: ["method", "path", "headers", "body"] + extraKeys) else { return nil }
        let method = o.optional("method").flatMap(httpMethod) ?? (o.has("body") ? "POST" : "GET")
        let path = o.required("path").flatMap { n -> Template? in
            guard let t = n.template() else { return nil }
            guard t.source.hasPrefix("/") else {
                n.fail("must start with /, got \"\(t.source)\"")
                return nil
            }
            return checkPlaceholders(t, node: n, placeholders: placeholders)
        }
        var headers: [(name: String, value: Template)] = []
        if let h = o.optional("headers"), let ho = h.object(keys: objectKeys(h)) {
            for key in ho.dict.keys.sorted() {
                let n = ho.optional(key)!
                guard headerNameIsValid(key, n), let t = n.template(),
                    let t = checkPlaceholders(t, node: n, placeholders: placeholders)
                else { continue }
                headers.append((key, t))
            }
        }
        var body: BodyTemplate?
        if let b = o.optional("body") {
            body = self.body(b, placeholders: placeholders)
            if case .json = body, !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                headers.append(("Content-Type", Template(literal: "application/json")))
            }
        }
        guard let path else { return nil }
        return Drill.CanaryRequest(method: method, path: path, headers: headers, body: body)
    }

    func fault(_ node: JSONNode, interval: Double, searchPath: String) -> Drill.Fault? {
        guard let o = node.object(keys: ["after", "action", "verify", "verifyWithin"]) else { return nil }
        let after = o.optional("after")?.duration(positive: false) ?? 5
        let action = o.required("action", hint: "{\"run\": [\"sh\", \"-c\", \"...\"]}").flatMap {
            self.action($0, defaultTimeout: 30, searchPath: searchPath)
        }
        let within = o.optional("verifyWithin")?.duration() ?? max(10, interval * 10)
        var verify = Drill.Verification.probeFails(within: within)
        if let v = o.optional("verify") {
            switch v.value {
            case .string(let s) where s == "probe-fails": break
            case .object:
                if let a = self.action(v, defaultTimeout: 30, searchPath: searchPath) { verify = .command(a) }
            default:
                v.fail("must be \"probe-fails\" or an action {\"run\": [...]}, got \(v.value.kindDescription)")
            }
        }
        guard let action else { return nil }
        return Drill.Fault(after: after, action: action, verify: verify)
    }

    func recovery(_ node: JSONNode, searchPath: String) -> Drill.Recovery? {
        guard let o = node.object(keys: ["action", "healthy", "timeout"]) else { return nil }
        let action = o.optional("action").flatMap { self.action($0, defaultTimeout: 120, searchPath: searchPath) }
        var n = 5
        if let h = o.optional("healthy"), let ho = h.object(keys: ["consecutiveSuccesses"]) {
            n = ho.optional("consecutiveSuccesses")?.integer(atLeast: 1, atMost: 1000) ?? n
        }
        let timeout = o.optional("timeout")?.duration() ?? 120
        return Drill.Recovery(action: action, consecutiveSuccesses: n, timeout: timeout)
    }

    /// `{"run": [argv...], "timeout": "30s"}`; the program must be on PATH (or an executable path) at load time.
    func action(_ node: JSONNode, defaultTimeout: Double, searchPath: String) -> Drill.Action? {
        guard let o = node.object(keys: ["run", "timeout"]) else { return nil }
        let timeout = o.optional("timeout")?.duration() ?? defaultTimeout
        guard let run = o.required("run", hint: "an argv list, e.g. [\"sh\", \"-c\", \"kill -9 $(cat api.pid)\"]"),
            let items = run.array()
        else { return nil }
        guard !items.isEmpty else {
            run.fail("must name a program")
            return nil
        }
        let argv = items.compactMap { $0.string(nonEmpty: false) }
        guard argv.count == items.count else { return nil }
        if argv[0].isEmpty {
            items[0].fail("must name a program")
            return nil
        }
        if DrillLoader.resolve(argv[0], searchPath: searchPath) == nil {
            items[0].fail(
                "program \"\(argv[0])\" is not on PATH",
                hint: "install it, or give its full path; PATH is \(searchPath)"
            )
            return nil
        }
        return Drill.Action(argv: argv, timeout: timeout)
    }

    func objectives(_ node: JSONNode, hasCanary: Bool) -> [Drill.Objective] {
        guard let o = node.object(keys: Drill.Objective.Kind.allCases.map(\.rawValue)) else { return [] }
        return Drill.Objective.Kind.allCases.compactMap { kind -> Drill.Objective? in
            guard let n = o.optional(kind.rawValue), let text = n.string() else { return nil }
            if (kind == .rpo || kind == .lostWrites) && !hasCanary {
                n.fail("needs a canary block to be measured", hint: "add \"canary\" or drop this objective")
                return nil
            }
            switch Drill.parseObjective(kind, text) {
            case .success(let objective): return objective
            case .failure(let r):
                n.fail("\"\(text)\": \(r.message)", hint: r.hint)
                return nil
            }
        }
    }
}

extension Drill {
    /// `<30s`, `<=1.5s`, `==0`: an operator and a bound; durations take a unit (`ms`, `s`, `m`), a bare number is
    /// milliseconds as everywhere else in thresholds; `lostWrites` takes a count.
    static func parseObjective(_ kind: Objective.Kind, _ text: String) -> Result<Objective, ScenarioProblem.Reason> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let op = ThresholdSpec.Operator.allCases.first(where: { trimmed.hasPrefix($0.rawValue) }) else {
            return .failure(.init("must start with <, <=, >, >=, == or !=", hint: "e.g. \"<30s\""))
        }
        let boundText = trimmed.dropFirst(op.rawValue.count).trimmingCharacters(in: .whitespaces)
        let bound: Double?
        if kind.isDuration {
            if let ms = Double(boundText), JSONEscape.isNumber(boundText) {
                bound = ms / 1000
            } else {
                bound = DurationText.seconds(boundText)
            }
        } else {
            bound = JSONEscape.isNumber(boundText) ? Double(boundText) : nil
        }
        guard let bound, bound.isFinite else {
            return .failure(
                .init(
                    "bound \"\(boundText)\" is not \(kind.isDuration ? "a duration" : "a number")",
                    hint: kind.isDuration ? "e.g. \"<30s\" or \"<=500ms\"" : "e.g. \"==0\""
                )
            )
        }
        return .success(Objective(kind: kind, expression: trimmed, op: op, bound: bound))
    }
}
