import Foundation

/// The `requests` block: methods, paths, headers, bodies and checks.
extension Reader {
    package func requestList(_ node: JSONNode, placeholders: Set<String>) -> [RequestTemplate]? {
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

    /// One request; `extraKeys` are keys the caller reads itself (a flow step's `capture`, `until`, `onFailure`).
    package func request(
        _ node: JSONNode,
        placeholders: Set<String>,
        extraKeys: [String] = [],
        weighted: Bool = true
    ) -> RequestTemplate? {
        let keys = ["name", "method", "path", "headers", "body", "checks", "timeout"] + (weighted ? ["weight"] : [])
        guard let obj = node.object(keys: keys + extraKeys) else { return nil }
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
    package func body(_ node: JSONNode, placeholders: Set<String>) -> BodyTemplate? {
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

    package func checkPlaceholders(_ t: Template, node: JSONNode, placeholders: Set<String>) -> Template? {
        let unknown = t.variables.filter { !placeholders.contains($0) }
        guard unknown.isEmpty else {
            reportUnknownPlaceholders(unknown, node: node, placeholders: placeholders)
            return nil
        }
        return t
    }

    package func reportUnknownPlaceholders(_ unknown: [String], node: JSONNode, placeholders: Set<String>) {
        node.fail(
            "uses {{\(unknown[0])}}, which no data feed or capture defines",
            hint: "available: \(placeholders.sorted().map { "{{\($0)}}" }.joined(separator: ", "))"
        )
    }

    package func checkList(_ node: JSONNode, placeholders: Set<String>) -> [Check]? {
        guard let items = node.array() else { return nil }
        return items.compactMap { check($0, placeholders: placeholders) }
    }

    package func check(_ node: JSONNode, placeholders: Set<String>) -> Check? {
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

    package func assertion(_ obj: JSONObjectNode, node: JSONNode, placeholders: Set<String>) -> Check.Assertion? {
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
}
