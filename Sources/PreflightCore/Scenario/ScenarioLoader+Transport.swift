import Foundation

/// The `transport` and `http` blocks.
extension Reader {
    package func transport(
        _ node: JSONNode,
        requests: [RequestTemplate]?,
        placeholders: Set<String>
    ) -> TransportSettings {
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

    package func mock(_ node: JSONNode, requests: [RequestTemplate]?, placeholders: Set<String>) -> MockSettings {
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

    package func mockLatency(_ node: JSONNode) -> MockSettings.Latency? {
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

    package func mockResponse(_ node: JSONNode, placeholders: Set<String>) -> MockSettings.Response? {
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

    package func http(_ node: JSONNode) -> HTTPSettings {
        var h = HTTPSettings()
        let keys = [
            "timeout", "connectTimeout", "maxBodyBytes", "insecureSkipVerify", "cookies", "redirects", "version",
            "connections",
        ]
        guard let obj = node.object(keys: keys) else { return h }
        if let d = obj.optional("timeout")?.duration() { h.timeout = d }
        if let d = obj.optional("connectTimeout")?.duration() { h.connectTimeout = d }
        if let n = obj.optional("maxBodyBytes")?.integer(atLeast: 0, atMost: 1 << 30) { h.maxBodyBytes = n }
        if let b = obj.optional("insecureSkipVerify")?.bool() { h.insecureSkipVerify = b }
        if let b = obj.optional("cookies")?.bool() { h.cookies = b }
        if let n = obj.optional("redirects")?.integer(atLeast: 0, atMost: 100) { h.redirects = n }
        if let version = obj.optional("version")?.oneOf(HTTPVersion.self) { h.version = version }
        if let n = obj.optional("connections")?.integer(atLeast: 1, atMost: 1000) { h.connections = n }
        return h
    }
}
