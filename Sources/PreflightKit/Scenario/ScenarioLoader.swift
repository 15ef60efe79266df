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
    static func defaultThresholds(hasChecks: Bool) -> [ThresholdSpec] {
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

    static let topLevelKeys = [
        "$schema", "name", "description", "kind", "target", "transport", "http", "data", "requests", "warmup", "load",
        "thresholds",
    ]

    /// The scenario files named by `paths`: files as given, folders by their `*.json` files (not `schema.json`
    /// and not drills, which `preflight drill` runs), sorted by name.
    public static func scenarioFiles(_ paths: [String]) throws(ScenarioError) -> [String] {
        try files(paths) { !DocumentKind.isDrill(file: $0) }
    }

    /// Files as given, and of each folder its `*.json` files but `schema.json` that `include` keeps, by name.
    static func files(_ paths: [String], inFolders include: (String) -> Bool) throws(ScenarioError) -> [String] {
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
                $0.hasSuffix(".json") && $0 != "schema.json"
            }
            files += names.sorted().map { (path as NSString).appendingPathComponent($0) }.filter(include)
        }
        return files
    }

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
        return scenario
    }

    /// Feed values used in credential headers that are masked in outputs; past this many, the rest are not
    /// searched for (README "Secrets").
    static let maxCredentialFeedValues = 1000

    /// The values of the `Authorization`, `Proxy-Authorization` and `Cookie` headers: constant ones whole (and
    /// their credentials), templated ones by their literal text after the scheme and the values of the feeds
    /// they draw on.
    static func credentialSecrets(
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
    static func checkNameHoldsNoSecret(_ doc: JSONValue, secrets: Secrets, diag: Diagnostics) {
        if case .string(let name)? = doc["name"], secrets.redact(name) != name {
            diag.add(
                "$.name",
                "holds the value of a secret variable",
                hint: "the name is written into report folder names; name the scenario without it"
            )
        }
    }

    /// Why `data` is not JSON: the parser's reason with the line and column where it stopped.
    static func describe(_ error: JSONValue.ParseError, in data: Data) -> String {
        let prefix = data.prefix(error.offset)
        let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
        let column = error.offset - (prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
        return "\(error.reason) at line \(line), column \(column)"
    }
}

/// The validating reader behind `ScenarioLoader`: one method per block of the format.
struct Reader {
    let diag: Diagnostics
    let baseDirectory: URL
    let expander: VariableExpander

    func scenario(_ root: JSONNode, file: String, sha256: String) -> Scenario? {
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
        let requests = obj.required("requests", hint: "at least one request").flatMap {
            requestList($0, placeholders: Set(data.map(\.name)).union(ScenarioLoader.builtinPlaceholders))
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
            obj.optional("thresholds").map { self.thresholds($0, requestNames: requests == nil ? nil : names) }
            ?? ScenarioLoader.defaultThresholds(hasChecks: requests?.contains { !$0.checks.isEmpty } ?? false)
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
            warmup: warmupValue,
            load: loadSettings,
            thresholds: thresholdList
        )
    }

    func scenarioName(_ node: JSONNode) -> String? {
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

    func target(_ node: JSONNode) -> Target? {
        guard let obj = node.object(keys: ["baseURL", "headers"]) else { return nil }
        var url: TargetURL?
        if let n = obj.required("baseURL", hint: "e.g. http://127.0.0.1:8000"), let s = n.string() {
            switch TargetURL.parse(s) {
            case .success(let u): url = u
            case .failure(let r): n.fail("\"\(TargetURL.masked(s))\" \(r.message)", hint: r.hint)
            }
        }
        let headers = obj.optional("headers").map(staticHeaders) ?? []
        guard let url else { return nil }
        return Target(baseURL: url, headers: headers)
    }

    func staticHeaders(_ node: JSONNode) -> [(name: String, value: String)] {
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

    func headerNameIsValid(_ name: String, _ node: JSONNode) -> Bool {
        let token = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+-.^_`|~".contains($0)) }
        if !token || name.isEmpty {
            node.fail("\"\(name)\" is not a valid header name")
            return false
        }
        return true
    }

    func objectKeys(_ node: JSONNode) -> [String] {
        if case .object(let d) = node.value { return Array(d.keys) }
        return []
    }

    func transport(_ node: JSONNode, requests: [RequestTemplate]?, placeholders: Set<String>) -> TransportSettings {
        var t = TransportSettings()
        guard let obj = node.object(keys: ["mode", "probe", "mock"]) else { return t }
        if let m = obj.optional("mode")?.oneOf(TransportSettings.Mode.self) { t.mode = m }
        if let p = obj.optional("probe"), let po = p.object(keys: ["request", "timeout", "missingStatuses"]) {
            t.probeRequest = po.optional("request")?.string()
            if let d = po.optional("timeout")?.duration() { t.probeTimeout = d }
            if let m = po.optional("missingStatuses"), let items = m.array() {
                // Only statuses that can say "not here": a 2xx/3xx is an answer, and mocking it would hide it.
                let statuses = items.compactMap { $0.integer(atLeast: 400, atMost: 599) }
                if statuses.count == items.count { t.missingStatuses = Set(statuses) }
            }
        }
        if let mock = obj.optional("mock") {
            t.mock = self.mock(mock, requests: requests, placeholders: placeholders)
        }
        return t
    }

    func mock(_ node: JSONNode, requests: [RequestTemplate]?, placeholders: Set<String>) -> MockSettings {
        var m = MockSettings()
        guard let obj = node.object(keys: ["latency", "errorRate", "errorKind", "errorStatus", "responses"]) else {
            return m
        }
        if let l = obj.optional("latency"), let latency = mockLatency(l) { m.latency = latency }
        if let r = obj.optional("errorRate")?.number(atLeast: 0, atMost: 1) { m.errorRate = r }
        let kind = obj.optional("errorKind").flatMap { n -> String? in
            guard let s = n.string() else { return nil }
            guard s == "status" || s == "reset" else {
                n.fail("must be \"status\" or \"reset\", got \"\(s)\"")
                return nil
            }
            return s
        }
        let status = obj.optional("errorStatus")?.integer(atLeast: 100, atMost: 599) ?? 503
        m.errorKind = kind == "reset" ? .reset : .status(status)
        if let r = obj.optional("responses"), let ro = r.object(keys: objectKeys(r)) {
            let names = requests.map { Set($0.map(\.name)) }
            for name in ro.dict.keys.sorted() {
                let n = ro.optional(name)!
                if let names, !names.contains(name) {
                    n.fail(
                        "no request is named \"\(name)\"",
                        hint: "requests: \(names.sorted().joined(separator: ", "))"
                    )
                    continue
                }
                if let response = mockResponse(n, placeholders: placeholders) { m.responses[name] = response }
            }
        }
        return m
    }

    func mockLatency(_ node: JSONNode) -> MockSettings.Latency? {
        guard case .object(let dict) = node.value else {
            node.fail("must be an object, got \(node.value.kindDescription)")
            return nil
        }
        let distribution =
            dict["distribution"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "lognormal"
        switch distribution {
        case "lognormal":
            guard let o = node.object(keys: ["distribution", "median", "p99", "min", "max"]) else { return nil }
            let median = o.required("median", hint: "e.g. \"120ms\"")?.duration()
            let p99 = o.required("p99", hint: "e.g. \"300ms\"")?.duration()
            let min = o.optional("min")?.duration(positive: false) ?? 0
            let max = o.optional("max")?.duration() ?? .infinity
            guard let median, let p99 else { return nil }
            guard p99 > median else {
                node.fail("p99 must be above the median")
                return nil
            }
            guard min < max else {
                node.fail("min must be below max")
                return nil
            }
            let latency = MockSettings.Latency.lognormal(median: median, p99: p99, min: min, max: max)
            if MockLatencyModel(latency).massInBounds < 0.001 {
                node.fail(
                    "min and max leave almost none of the distribution",
                    hint: "draws outside [min, max] are redrawn, so the interval must hold at least 0.1 % of it"
                )
                return nil
            }
            return latency
        case "uniform":
            guard let o = node.object(keys: ["distribution", "min", "max"]) else { return nil }
            let min = o.required("min")?.duration(positive: false)
            let max = o.required("max")?.duration()
            guard let min, let max else { return nil }
            guard min <= max else {
                node.fail("min must not be above max")
                return nil
            }
            return .uniform(min: min, max: max)
        case "fixed":
            guard let o = node.object(keys: ["distribution", "value"]) else { return nil }
            return o.required("value", hint: "e.g. \"100ms\"")?.duration(positive: false).map { .fixed($0) }
        default:
            diag.add(
                node.child("distribution"),
                "must be one of \"lognormal\", \"uniform\", \"fixed\", got \"\(distribution)\""
            )
            return nil
        }
    }

    func mockResponse(_ node: JSONNode, placeholders: Set<String>) -> MockSettings.Response? {
        guard let o = node.object(keys: ["status", "headers", "body", "bodyFile"]) else { return nil }
        var r = MockSettings.Response()
        if let s = o.optional("status")?.integer(atLeast: 100, atMost: 599) { r.status = s }
        if let h = o.optional("headers"), let ho = h.object(keys: objectKeys(h)) {
            for key in ho.dict.keys.sorted() {
                let n = ho.optional(key)!
                guard headerNameIsValid(key, n), let t = n.template(),
                    let t = checkPlaceholders(t, node: n, placeholders: placeholders)
                else { continue }
                r.headers.append((key, t))
            }
        }
        if o.has("body") && o.has("bodyFile") {
            node.fail("has body and bodyFile; give one")
            return nil
        }
        if let b = o.optional("body") {
            switch b.value {
            case .string, .object, .array: r.body = body(b, placeholders: placeholders) ?? r.body
            default: b.fail("must be a string or JSON, got \(b.value.kindDescription)")
            }
        } else if let f = o.optional("bodyFile"), let file = f.string(), let data = readFile(file, node: f) {
            switch Template.parse(String(decoding: data, as: UTF8.self)) {
            case .success(let t):
                r.body = checkPlaceholders(t, node: f, placeholders: placeholders).map { .text($0) } ?? r.body
            case .failure(let reason): f.fail("the file \(reason.message)", hint: reason.hint)
            }
        }
        return r
    }

    func http(_ node: JSONNode) -> HTTPSettings {
        var h = HTTPSettings()
        guard let obj = node.object(keys: ["timeout", "connectTimeout", "maxBodyBytes", "insecureSkipVerify"]) else {
            return h
        }
        if let d = obj.optional("timeout")?.duration() { h.timeout = d }
        if let d = obj.optional("connectTimeout")?.duration() { h.connectTimeout = d }
        if let n = obj.optional("maxBodyBytes")?.integer(atLeast: 0, atMost: 1 << 30) { h.maxBodyBytes = n }
        if let b = obj.optional("insecureSkipVerify")?.bool() { h.insecureSkipVerify = b }
        return h
    }

    // MARK: Data

    func dataFeeds(_ node: JSONNode) -> [DataFeed] {
        guard let obj = node.object(keys: objectKeys(node)) else { return [] }
        return obj.dict.keys.sorted().compactMap { name in
            let n = obj.optional(name)!
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }),
                !ScenarioLoader.builtinPlaceholders.contains(name)
            else {
                n.fail(
                    "\"\(name)\" is not a usable feed name",
                    hint: "use letters, digits, _ - . and not iteration or vu"
                )
                return nil
            }
            if case .array = n.value {
                return feedValues(n).map { DataFeed(name: name, values: $0.texts, types: $0.types, order: .sequential) }
            }
            guard let o = n.object(keys: ["values", "csv", "json", "column", "order"]) else { return nil }
            let sources = ["values", "csv", "json"].filter(o.has)
            guard sources.count == 1 else {
                n.fail(
                    sources.isEmpty
                        ? "needs one of values, csv or json" : "has \(sources.joined(separator: " and ")); give one",
                    hint: "e.g. {\"csv\": \"symbols.csv\", \"column\": \"symbol\"}"
                )
                return nil
            }
            let order = o.optional("order")?.oneOf(DataFeed.Order.self) ?? .sequential
            let column = o.optional("column")?.string()
            var values: (texts: [String], types: [ValueType])?
            if let v = o.optional("values") {
                values = feedValues(v)
            } else if let c = o.optional("csv"), let file = c.string() {
                values = readFile(file, node: c).flatMap {
                    csvColumn($0, column: column ?? name, explicit: column != nil, node: c)
                }.map {
                    ($0, $0.map(ValueType.inferred(from:)))
                }
            } else if let j = o.optional("json"), let file = j.string() {
                values = readFile(file, node: j).flatMap { jsonValues($0, node: j) }
            }
            guard let values else { return nil }
            return DataFeed(name: name, values: values.texts, types: values.types, order: order)
        }
    }

    /// Inline or JSON-file values keep their JSON types: `5` is a number, `"5"` a string.
    func feedValues(_ node: JSONNode) -> (texts: [String], types: [ValueType])? {
        guard case .array(let items) = node.value else {
            node.fail("must be an array, got \(node.value.kindDescription)")
            return nil
        }
        if items.isEmpty {
            node.fail("must not be empty")
            return nil
        }
        // Millions of values: no node (and no path string) per item, only for an item that is wrong.
        var texts: [String] = []
        var types: [ValueType] = []
        texts.reserveCapacity(items.count)
        types.reserveCapacity(items.count)
        var ok = true
        for (n, item) in items.enumerated() {
            switch item {
            case .string(let s):
                types.append(.string)
                texts.append(s)
            case .number:
                types.append(.number)
                texts.append(item.textValue)
            case .bool:
                types.append(.bool)
                texts.append(item.textValue)
            default:
                diag.add("\(node.path)[\(n)]", "must be a string, number or boolean, got \(item.kindDescription)")
                ok = false
            }
        }
        return ok ? (texts, types) : nil
    }

    func readFile(_ relative: String, node: JSONNode) -> Data? {
        let url =
            relative.hasPrefix("/")
            ? URL(fileURLWithPath: relative) : baseDirectory.appendingPathComponent(relative)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            node.fail("cannot read \(url.path)", hint: "paths are relative to the scenario file")
            return nil
        }
        return data
    }

    /// The values of `column`; a one-column file serves a feed by its own name, never a column named explicitly.
    func csvColumn(_ data: Data, column: String, explicit: Bool = false, node: JSONNode) -> [String]? {
        let rows = CSV.parse(String(decoding: data, as: UTF8.self))
        guard let header = rows.first else {
            node.fail("the CSV file is empty")
            return nil
        }
        let index: Int
        if let i = header.firstIndex(of: column) {
            index = i
        } else if header.count == 1 && !explicit {
            index = 0
        } else {
            node.fail(
                "the CSV has no column \"\(column)\"",
                hint: "columns: \(header.joined(separator: ", ")); set \"column\""
            )
            return nil
        }
        let values = rows.dropFirst().compactMap { $0.indices.contains(index) ? $0[index] : nil }.filter { !$0.isEmpty }
        if values.isEmpty {
            node.fail("the CSV has no values in column \"\(header[index])\"")
            return nil
        }
        return values
    }

    func jsonValues(_ data: Data, node: JSONNode) -> (texts: [String], types: [ValueType])? {
        guard let doc = try? JSONValue.parse(data) else {
            node.fail("the file is not valid JSON")
            return nil
        }
        return feedValues(JSONNode(value: doc, path: node.path, diag: diag))
    }

    // MARK: Requests

    func requestList(_ node: JSONNode, placeholders: Set<String>) -> [RequestTemplate]? {
        guard let items = node.array() else { return nil }
        if items.isEmpty {
            node.fail("must have at least one request")
            return nil
        }
        var seen: Set<String> = []
        let requests = items.compactMap { item -> RequestTemplate? in
            guard let r = request(item, placeholders: placeholders) else { return nil }
            if !seen.insert(r.name).inserted {
                diag.add(item.path + ".name", "\"\(r.name)\" is used by another request", hint: "names must be unique")
                return nil
            }
            return r
        }
        return requests.count == items.count ? requests : nil
    }

    func request(_ node: JSONNode, placeholders: Set<String>) -> RequestTemplate? {
        guard
            let obj = node.object(keys: ["name", "method", "path", "headers", "body", "weight", "checks", "timeout"])
        else { return nil }
        let name = obj.required("name").flatMap { n -> String? in
            guard let s = n.string() else { return nil }
            guard s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
                n.fail("must be letters, digits, _ - ., got \"\(s)\"", hint: "it is used as a metric tag")
                return nil
            }
            return s
        }
        var method = "GET"
        if let m = obj.optional("method"), let s = m.string() {
            if s.allSatisfy({ $0.isASCII && $0.isUppercase }) {
                method = s
            } else {
                m.fail("must be an upper-case HTTP method, got \"\(s)\"", hint: "e.g. GET, POST, PUT, DELETE")
            }
        }
        let path = obj.required("path", hint: "e.g. /api/v1/items/{{id}}").flatMap { n -> Template? in
            guard let t = n.template() else { return nil }
            guard t.source.hasPrefix("/") else {
                n.fail("must start with /, got \"\(t.source)\"", hint: "it is appended to target.baseURL")
                return nil
            }
            guard !t.source.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
                n.fail("must not contain spaces or line breaks", hint: "percent-encode them (%20)")
                return nil
            }
            return checkPlaceholders(t, node: n, placeholders: placeholders)
        }
        var headers: [(name: String, value: Template)] = []
        if let h = obj.optional("headers"), let ho = h.object(keys: objectKeys(h)) {
            for key in ho.dict.keys.sorted() {
                let n = ho.optional(key)!
                guard headerNameIsValid(key, n), let t = n.template() else { continue }
                if t.source.contains("\r") || t.source.contains("\n") {
                    n.fail("must not contain line breaks")
                    continue
                }
                if let t = checkPlaceholders(t, node: n, placeholders: placeholders) { headers.append((key, t)) }
            }
        }
        var body: BodyTemplate?
        if let b = obj.optional("body") {
            switch b.value {
            case .string: body = self.body(b, placeholders: placeholders)
            case .object, .array:
                body = self.body(b, placeholders: placeholders)
                if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                    headers.append(("Content-Type", Template(literal: "application/json")))
                }
            default: b.fail("must be a string or a JSON object, got \(b.value.kindDescription)")
            }
        }
        let weight = obj.optional("weight")?.integer(atLeast: 1, atMost: 1_000_000) ?? 1
        let checks = obj.optional("checks").flatMap { checkList($0, placeholders: placeholders) } ?? []
        let timeout = obj.optional("timeout")?.duration()
        guard let name, let path else { return nil }
        return RequestTemplate(
            name: name,
            method: method,
            path: path,
            headers: headers,
            body: body,
            weight: weight,
            checks: checks,
            timeout: timeout
        )
    }

    /// A body: a string is a text template; an object or array is a JSON body with typed placeholders.
    func body(_ node: JSONNode, placeholders: Set<String>) -> BodyTemplate? {
        if case .string = node.value {
            return node.template().flatMap { checkPlaceholders($0, node: node, placeholders: placeholders) }.map {
                .text($0)
            }
        }
        switch JSONBodyTemplate.compile(node.value) {
        case .success(let j):
            let unknown = j.variables.filter { !placeholders.contains($0) }
            guard unknown.isEmpty else {
                reportUnknownPlaceholders(unknown, node: node, placeholders: placeholders)
                return nil
            }
            return .json(j)
        case .failure(let reason):
            diag.add(node.path, reason)
            return nil
        }
    }

    func checkPlaceholders(_ t: Template, node: JSONNode, placeholders: Set<String>) -> Template? {
        let unknown = t.variables.filter { !placeholders.contains($0) }
        guard unknown.isEmpty else {
            reportUnknownPlaceholders(unknown, node: node, placeholders: placeholders)
            return nil
        }
        return t
    }

    func reportUnknownPlaceholders(_ unknown: [String], node: JSONNode, placeholders: Set<String>) {
        node.fail(
            "uses {{\(unknown[0])}}, which no data feed defines",
            hint: "available: \(placeholders.sorted().map { "{{\($0)}}" }.joined(separator: ", "))"
        )
    }

    func checkList(_ node: JSONNode, placeholders: Set<String>) -> [Check]? {
        guard let items = node.array() else { return nil }
        return items.compactMap { check($0, placeholders: placeholders) }
    }

    func check(_ node: JSONNode, placeholders: Set<String>) -> Check? {
        let kinds = ["status", "json", "bodyContains", "header"]
        guard let obj = node.object(keys: kinds + ["equals", "exists", "matches"]) else { return nil }
        let present = kinds.filter(obj.has)
        guard present.count == 1 else {
            node.fail(
                present.isEmpty
                    ? "needs one of status, json, bodyContains, header"
                    : "has \(present.joined(separator: " and ")); a check tests one thing",
                hint: "e.g. {\"status\": 200} or {\"json\": \"$.id\", \"exists\": true}"
            )
            return nil
        }
        switch present[0] {
        case "status":
            let n = obj.optional("status")!
            for extra in ["equals", "exists", "matches"] where obj.has(extra) {
                diag.add(node.child(extra), "does not go with status", hint: "write {\"status\": 200} or [200, 204]")
            }
            let codes: [Int]?
            if case .array = n.value {
                codes = n.array()?.compactMap { $0.integer(atLeast: 100, atMost: 599) }
            } else {
                codes = n.integer(atLeast: 100, atMost: 599).map { [$0] }
            }
            guard let codes, !codes.isEmpty else { return nil }
            let label =
                codes.count == 1
                ? "status == \(codes[0])" : "status in \(codes.map(String.init).joined(separator: ","))"
            return Check(kind: .status(codes), label: label)
        case "bodyContains":
            let n = obj.optional("bodyContains")!
            guard let t = n.template(), let t = checkPlaceholders(t, node: n, placeholders: placeholders) else {
                return nil
            }
            return Check(
                kind: .bodyContains(t),
                label: "body contains \(expander.unexpanded.byPath[n.path] ?? t.source)"
            )
        default:
            let key = present[0]
            let n = obj.optional(key)!
            guard let subject = n.string() else { return nil }
            guard let assertion = assertion(obj, node: node, placeholders: placeholders) else { return nil }
            // Labels reach reports: a value that came from a variable is shown as written (`${TOKEN}`).
            let written = { (key: String, value: String) in
                self.expander.unexpanded.byPath[obj.node.child(key)] ?? value
            }
            let suffix: String
            switch assertion {
            case .equals(let v, _): suffix = "== \(written("equals", v.textValue))"
            case .exists(let b): suffix = b ? "exists" : "does not exist"
            case .matches(let p): suffix = "matches /\(written("matches", p))/"
            }
            let shown = written(key, subject)
            if key == "json" {
                switch JSONPath.parse(subject) {
                case .success(let p): return Check(kind: .json(p, assertion), label: "\(shown) \(suffix)")
                case .failure(let r):
                    n.fail("\"\(subject)\" \(r.message)", hint: r.hint)
                    return nil
                }
            }
            return Check(kind: .header(subject.lowercased(), assertion), label: "header \(shown) \(suffix)")
        }
    }

    func assertion(_ obj: JSONObjectNode, node: JSONNode, placeholders: Set<String>) -> Check.Assertion? {
        let present = ["equals", "exists", "matches"].filter(obj.has)
        guard present.count == 1 else {
            node.fail(
                present.isEmpty
                    ? "needs one of equals, exists, matches" : "has \(present.joined(separator: " and ")); give one",
                hint: "e.g. {\"json\": \"$.symbol\", \"equals\": \"AAPL\"}"
            )
            return nil
        }
        let n = obj.optional(present[0])!
        switch present[0] {
        case "equals":
            if case .string = n.value {
                guard let t = n.template(), let t = checkPlaceholders(t, node: n, placeholders: placeholders) else {
                    return nil
                }
                return .equals(n.value, t.isConstant ? nil : t)
            }
            return .equals(n.value, nil)
        case "exists":
            return n.bool().map { .exists($0) }
        default:
            guard let pattern = n.string() else { return nil }
            do {
                _ = try LinearRegex(pattern)
            } catch {
                n.fail("is not a usable regular expression: \(error)", hint: "README, Checks, lists the syntax")
                return nil
            }
            return .matches(pattern)
        }
    }

    // MARK: Warm-up, load, thresholds

    func warmup(_ node: JSONNode) -> Warmup? {
        guard let obj = node.object(keys: ["requests"]) else { return nil }
        guard let n = obj.required("requests")?.integer(atLeast: 0, atMost: 1_000_000) else { return nil }
        return Warmup(requests: n)
    }

    func thresholds(_ node: JSONNode, requestNames: Set<String>?) -> [ThresholdSpec] {
        guard let obj = node.object(keys: objectKeys(node)) else { return [] }
        var out: [ThresholdSpec] = []
        for key in obj.dict.keys.sorted() {
            let n = obj.optional(key)!
            let entries: [JSONNode]
            if case .string = n.value { entries = [n] } else { entries = n.array() ?? [] }
            if entries.isEmpty, case .array = n.value { n.fail("must list at least one expression") }
            for entry in entries {
                var expression: String?
                var abort = false
                var delay = 0.0
                if case .object = entry.value {
                    guard let eo = entry.object(keys: ["threshold", "abortOnFail", "delayAbortEval"]) else { continue }
                    expression = eo.required("threshold", hint: "e.g. \"p(99)<500\"")?.string()
                    abort = eo.optional("abortOnFail")?.bool() ?? false
                    delay = eo.optional("delayAbortEval")?.duration(positive: false) ?? 0
                } else {
                    expression = entry.string()
                }
                guard let expression else { continue }
                switch ThresholdSpec.parse(metric: key, expression: expression, requestNames: requestNames) {
                case .success(var t):
                    t.abortOnFail = abort
                    t.delayAbortEval = delay
                    out.append(t)
                case .failure(let r):
                    entry.fail("\"\(expression)\": \(r.message)", hint: r.hint)
                }
            }
        }
        return out
    }
}

/// A small RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        var pending: Character?
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            field.append("\"")
                        } else {
                            quoted = false
                            pending = next
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                row.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                row.append(field)
                field = ""
                if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
                row = []
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows.map { $0.map { $0.trimmingCharacters(in: .whitespaces) } }
    }
}
