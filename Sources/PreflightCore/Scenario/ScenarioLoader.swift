import Foundation

/// Reads scenario files and reports every problem at once, with its JSON path and a hint.
public struct ScenarioLoader: Sendable {
    /// `--var` values; they win over the environment.
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

    /// Thresholds used when a scenario has no `thresholds` key, so a run where every request failed can not pass:
    /// `http_req_failed: rate<0.01`, and `checks: rate>0.99` when there are checks. `"thresholds": {}` opts out.
    package static func defaultThresholds(hasChecks: Bool) -> [ThresholdSpec] {
        var list = [(Metric.httpReqFailed.rawValue, "rate<0.01")]
        if hasChecks { list.append((Metric.checks.rawValue, "rate>0.99")) }
        return list.map { metric, expression in
            var t = try! ThresholdSpec.parse(metric: metric, expression: expression, requestNames: nil).get()
            t.isDefault = true
            return t
        }
    }

    /// Built-in placeholders every request may use besides its data feeds.
    public static let builtinPlaceholders: Set<String> = ["iteration", "vu"]

    package static let topLevelKeys = [
        "$schema", "name", "description", "kind", "target", "transport", "http", "data", "requests", "flow", "warmup",
        "load", "thresholds",
    ]

    /// The scenario files named by `paths`: files as given, folders by their `*.json` files (not `schema.json`
    /// and not drills, which `preflight drill` runs), sorted by name.
    public static func scenarioFiles(_ paths: [String]) throws(ScenarioError) -> [String] {
        try files(paths) { !DocumentKind.isDrill(file: $0) }
    }

    /// Files as given, and of each folder its `*.json` files but `schema.json` that `include` keeps, by name.
    package static func files(_ paths: [String], inFolders include: (String) -> Bool) throws(ScenarioError) -> [String]
    {
        var files: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
                throw ScenarioError(file: path, problems: [.init(path: "$", message: "no such file or folder")])
            }
            guard isDir.boolValue else {
                files.append(path)
                continue
            }
            let names = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter {
                $0.hasSuffix(".json") && !Self.isSchema($0)
            }
            files += names.sorted().map { (path as NSString).appendingPathComponent($0) }.filter(include)
        }
        return files
    }

    /// The JSON Schemas beside the scenarios (`schema.json`, `drill.schema.json`), which a folder's runs skip.
    public static func isSchema(_ name: String) -> Bool { name == "schema.json" || name.hasSuffix(".schema.json") }

    /// Loads and validates one scenario file.
    public func load(file: String) throws(ScenarioError) -> Scenario {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ScenarioError(file: file, problems: [.init(path: "$", message: "cannot read the file")])
        }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        return try load(data: data, file: file, baseDirectory: base)
    }

    /// Loads and validates a scenario from bytes; data files are read relative to `baseDirectory`.
    public func load(data: Data, file: String, baseDirectory: URL) throws(ScenarioError) -> Scenario {
        let diag = Diagnostics()
        let raw: JSONValue
        do {
            raw = try JSONValue.parseFast(data)
        } catch {
            throw ScenarioError(
                file: file,
                problems: [.init(path: "$", message: "is not valid JSON: \(Self.describe(error, in: data))")]
            )
        }
        let expander = VariableExpander(variables: variables, environment: environment)
        let doc = expander.expand(raw, path: "$", diag: diag)
        let reader = Reader(diag: diag, baseDirectory: baseDirectory, expander: expander)
        let scenario = reader.scenario(
            JSONNode(value: doc, path: "$", diag: diag),
            file: file,
            sha256: SHA256.hex(data)
        )
        var secrets = expander.secrets(named: secretNames)
        if let s = scenario {
            secrets = secrets.union(
                Self.credentialSecrets(
                    headers: s.target.headers,
                    templated: s.requests.flatMap(\.headers),
                    data: s.data
                )
            )
        }
        Self.checkNameHoldsNoSecret(doc, secrets: secrets, diag: diag)
        guard diag.problems.isEmpty, var scenario else {
            throw ScenarioError(file: file, problems: diag.problems.map { $0.redacted(secrets) })
        }
        scenario.secrets = secrets
        scenario.referencedVariables = expander.unexpanded.referenced
        return scenario
    }

    /// Feed values used in credential headers that are masked in outputs; past this many, the rest are not
    /// searched for (README "Secrets").
    package static let maxCredentialFeedValues = 1000

    /// The values of the `Authorization`, `Proxy-Authorization` and `Cookie` headers: constant ones whole (and
    /// their credentials), templated ones by their literal text after the scheme and the values of the feeds
    /// they draw on.
    package static func credentialSecrets(
        headers: [(name: String, value: String)],
        templated: [(name: String, value: Template)],
        data: [DataFeed]
    ) -> Secrets {
        var secrets = Secrets()
        for h in headers where Secrets.headerIsSecret(h.name) { secrets.insert(headerValue: h.value, name: h.name) }
        var feedValues = 0
        for h in templated where Secrets.headerIsSecret(h.name) {
            if h.value.isConstant {
                secrets.insert(headerValue: h.value.source, name: h.name)
                continue
            }
            for (i, part) in h.value.parts.enumerated() {
                switch part {
                case .literal(var text):
                    // "Bearer {{token}}": the scheme is no secret.
                    if i == 0, let space = text.firstIndex(of: " ") { text = String(text[space...]) }
                    secrets.insert(text.trimmingCharacters(in: .whitespaces))
                case .variable(let name):
                    guard let feed = data.first(where: { $0.name == name }) else { continue }
                    for v in feed.values.prefix(max(0, maxCredentialFeedValues - feedValues)) { secrets.insert(v) }
                    feedValues += feed.values.count
                }
            }
        }
        return secrets
    }

    /// A scenario's name is written into folder names and every report: it may not hold a secret.
    package static func checkNameHoldsNoSecret(_ doc: JSONValue, secrets: Secrets, diag: Diagnostics) {
        if case .string(let name)? = doc["name"], secrets.redact(name) != name {
            diag.add(
                "$.name",
                "holds the value of a secret variable",
                hint: "the name is written into report folder names; name the scenario without it"
            )
        }
    }

    /// Why `data` is not JSON: the parser's reason with the line and column where it stopped.
    package static func describe(_ error: JSONValue.ParseError, in data: Data) -> String {
        let prefix = data.prefix(error.offset)
        let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
        let column = error.offset - (prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
        return "\(error.reason) at line \(line), column \(column)"
    }
}

/// The validating reader behind `ScenarioLoader`: one method per block of the format.
package struct Reader {
    package let diag: Diagnostics
    package let baseDirectory: URL
    package let expander: VariableExpander

    package func scenario(_ root: JSONNode, file: String, sha256: String) -> Scenario? {
        guard let obj = root.object(keys: ScenarioLoader.topLevelKeys) else { return nil }
        if let kind = obj.optional("kind"), let k = kind.string(), k != "load" {
            kind.fail(
                "must be \"load\" here, got \"\(k)\"",
                hint: k == "drill" ? "run drills with `preflight drill`" : nil
            )
        }
        let name = obj.required("name", hint: "a short id used in report folder names").flatMap(scenarioName)
        let description = obj.optional("description")?.string(nonEmpty: false)
        let targetValue = obj.required("target").flatMap(self.target)
        let httpValue = obj.optional("http").map(self.http) ?? HTTPSettings()
        let data = obj.optional("data").map(dataFeeds) ?? []
        let dataNames = Set(data.map(\.name)).union(ScenarioLoader.builtinPlaceholders)
        var requests: [RequestTemplate]?
        var flow: [FlowStep]?
        switch (obj.optional("requests"), obj.optional("flow")) {
        case (let r?, nil): requests = requestList(r, placeholders: dataNames)
        case (nil, let f?):
            if let parsed = self.flow(f, placeholders: dataNames) { (requests, flow) = (parsed.requests, parsed.steps) }
        case (_?, _?):
            diag.add(
                "$.flow",
                "a scenario has requests or a flow, not both",
                hint: "requests: one per iteration, by weight; flow: every step in order, each iteration"
            )
        case (nil, nil):
            _ = obj.required("requests", hint: "at least one request, or a flow of steps run in order")
        }
        let warmupValue = obj.optional("warmup").flatMap(self.warmup)
        let transportValue =
            obj.optional("transport").map {
                self.transport(
                    $0,
                    requests: requests,
                    placeholders: Set(data.map(\.name)).union(ScenarioLoader.builtinPlaceholders)
                )
            } ?? TransportSettings()
        let loadSettings = obj.required("load", hint: "an executor block, e.g. {\"executor\": \"constant-vus\", ...}")
            .flatMap(LoadSettings.decode)
        let names = Set((requests ?? []).map(\.name))
        // When the requests themselves are broken, request names in thresholds are not checked, so one mistake
        // is not reported twice.
        let thresholdList =
            obj.optional("thresholds").map {
                self.thresholds(
                    $0,
                    requestNames: requests == nil ? nil : names,
                    serverSeries: Set(targetValue?.metrics?.series.map(\.name) ?? [])
                )
            }
            ?? ScenarioLoader.defaultThresholds(hasChecks: requests?.contains { !$0.checks.isEmpty } ?? false)
        if flow == nil, requests != nil,
            let t = thresholdList.first(where: { $0.selector.metric == .iterationDuration })
        {
            diag.add(
                "$.thresholds[\"\(t.metric)\"]",
                "iteration_duration is measured for flows only",
                hint: "an iteration of requests is one request: use http_req_duration"
            )
        }
        if let loadSettings, loadSettings.executor.capacitySearch == nil,
            let t = thresholdList.first(where: { $0.selector.metric == .capacity })
        {
            diag.add(
                "$.thresholds[\"\(t.metric)\"]",
                "capacity is what a capacity-search finds; this load runs \(loadSettings.executor.name)",
                hint: "use \"executor\": \"capacity-search\", or a threshold on a measured metric"
            )
        }
        if let probe = transportValue.probeRequest, requests != nil, !names.contains(probe) {
            diag.add(
                "$.transport.probe.request",
                "no request is named \"\(probe)\"",
                hint: "requests: \(names.sorted().joined(separator: ", "))"
            )
        }
        guard let name, let targetValue, let requests, let loadSettings else { return nil }
        return Scenario(
            name: name,
            description: description ?? nil,
            file: file,
            sha256: sha256,
            target: targetValue,
            transport: transportValue,
            http: httpValue,
            data: data,
            requests: requests,
            flow: flow,
            warmup: warmupValue,
            load: loadSettings,
            thresholds: thresholdList
        )
    }

    package func scenarioName(_ node: JSONNode) -> String? {
        guard let s = node.string() else { return nil }
        let ok =
            s.first.map { $0.isLetter || $0.isNumber } == true && s.count <= 80
            && s.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" || $0 == "." }
        guard ok else {
            node.fail("must be letters, digits, - _ . (at most 80), got \"\(s)\"", hint: "it names the report folder")
            return nil
        }
        return s
    }

    package func target(_ node: JSONNode) -> Target? {
        guard let obj = node.object(keys: ["baseURL", "headers", "metrics"]) else { return nil }
        var url: TargetURL?
        if let n = obj.required("baseURL", hint: "e.g. http://127.0.0.1:8000"), let s = n.string() {
            switch TargetURL.parse(s) {
            case .success(let u): url = u
            case .failure(let r): n.fail("\"\(TargetURL.masked(s))\" \(r.message)", hint: r.hint)
            }
        }
        let headers = obj.optional("headers").map(staticHeaders) ?? []
        let metrics = obj.optional("metrics").flatMap(serverMetrics)
        guard let url else { return nil }
        return Target(baseURL: url, headers: headers, metrics: metrics)
    }

    package func staticHeaders(_ node: JSONNode) -> [(name: String, value: String)] {
        guard let obj = node.object(keys: Array(objectKeys(node))) else { return [] }
        return obj.dict.keys.sorted().compactMap { key in
            let n = obj.optional(key)!
            guard headerNameIsValid(key, n) else { return nil }
            guard let v = n.string(nonEmpty: false) else { return nil }
            guard !v.contains("\r"), !v.contains("\n") else {
                n.fail("must not contain line breaks")
                return nil
            }
            return (key, v)
        }
    }

    package func headerNameIsValid(_ name: String, _ node: JSONNode) -> Bool {
        let token = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+-.^_`|~".contains($0)) }
        if !token || name.isEmpty {
            node.fail("\"\(name)\" is not a valid header name")
            return false
        }
        return true
    }

    package func objectKeys(_ node: JSONNode) -> [String] {
        if case .object(let d) = node.value { return Array(d.keys) }
        return []
    }

    package init(diag: Diagnostics, baseDirectory: URL, expander: VariableExpander) {
        self.diag = diag
        self.baseDirectory = baseDirectory
        self.expander = expander
    }
}
