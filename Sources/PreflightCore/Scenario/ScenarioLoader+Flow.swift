import Foundation

/// The `flow` block (SPEC §14): steps in order, each a request plus `capture`, `until` and `onFailure`.
extension Reader {
    static let stepKeys = ["capture", "until", "onFailure"]
    static let captureSources = ["json", "header", "cookie", "regex"]

    /// The steps' requests (step `k` is request `k`) and their flow settings; nil when any step is broken.
    package func flow(_ node: JSONNode, placeholders: Set<String>) -> (requests: [RequestTemplate], steps: [FlowStep])?
    {
        guard let items = node.array() else { return nil }
        if items.isEmpty {
            node.fail("must have at least one step", hint: "a step is a request plus capture, until and onFailure")
            return nil
        }
        // Where each name is first captured, so a step that uses it too early is told where it comes from.
        var capturedAt: [String: String] = [:]
        for item in items {
            guard case .object(let step) = item.value, case .object(let capture)? = step["capture"] else { continue }
            for name in capture.keys.sorted() where capturedAt[name] == nil {
                capturedAt[name] = JSONNode(value: .null, path: item.path + ".capture", diag: diag).child(name)
            }
        }
        let everything = placeholders.union(capturedAt.keys)
        var available = placeholders
        var seen: Set<String> = []
        var requests: [RequestTemplate] = []
        var steps: [FlowStep] = []
        var broken = false
        for item in items {
            // Parsed with every capture known, so that one mistake is one message: a capture used too early is
            // reported below, with where it is captured. A broken step is read to its end, so every mistake in
            // the flow is reported at once.
            let request = request(item, placeholders: everything, extraKeys: Self.stepKeys, weighted: false)
            guard case .object(let dict) = item.value else {
                broken = true
                continue
            }
            let obj = JSONObjectNode(dict: dict, node: item)
            if let request {
                if !seen.insert(request.name).inserted {
                    diag.add(
                        item.path + ".name",
                        "\"\(request.name)\" is used by another step",
                        hint: "names must be unique"
                    )
                    broken = true
                }
                for name in request.variables.sorted() where !available.contains(name) {
                    item.fail(
                        "uses {{\(name)}} before it is captured (\(capturedAt[name] ?? "?"))",
                        hint: "a step can use only what earlier steps captured"
                    )
                    broken = true
                }
            } else {
                broken = true
            }
            var step = FlowStep()
            if let c = obj.optional("capture") {
                if let captures = captures(c, defined: placeholders) { step.captures = captures } else { broken = true }
            }
            if let u = obj.optional("until") {
                if let until = until(u, placeholders: available) { step.until = until } else { broken = true }
            }
            if let f = obj.optional("onFailure") {
                if let v = f.oneOf(FlowStep.OnFailure.self) { step.onFailure = v } else { broken = true }
            }
            available.formUnion(step.captures.map(\.name))
            if let request {
                requests.append(request)
                steps.append(step)
            }
        }
        return broken || requests.count != items.count ? nil : (requests, steps)
    }

    /// `{ "token": { "json": "$.access_token" }, "id": { "header": "Location", "regex": "/orders/(\\d+)$" } }`.
    package func captures(_ node: JSONNode, defined: Set<String>) -> [Capture]? {
        guard let obj = node.object(keys: objectKeys(node)) else { return nil }
        var out: [Capture] = []
        var ok = true
        for name in obj.dict.keys.sorted() {
            let n = obj.optional(name)!
            guard let spec = n.object(keys: Self.captureSources) else {
                ok = false
                continue
            }
            let validName =
                name.first.map { $0.isLetter || $0 == "_" } == true
                && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            if !validName {
                n.fail("\"\(name)\" is not a usable name", hint: "letters, digits and _, used as {{\(name)}}")
                ok = false
                continue
            }
            if defined.contains(name) {
                n.fail("\"\(name)\" is already a data feed or a built-in placeholder", hint: "choose another name")
                ok = false
                continue
            }
            let sources = ["json", "header", "cookie"].filter(spec.has)
            guard sources.count <= 1, !(sources.isEmpty && !spec.has("regex")) else {
                n.fail(
                    sources.isEmpty
                        ? "needs one of json, header, cookie or regex"
                        : "has \(sources.joined(separator: " and ")); a capture reads one thing",
                    hint: "e.g. {\"json\": \"$.access_token\"} or {\"header\": \"Location\", \"regex\": \"/(\\\\d+)$\"}"
                )
                ok = false
                continue
            }
            var source = Capture.Source.body
            switch sources.first {
            case "json":
                let p = spec.optional("json")!
                guard let text = p.string() else {
                    ok = false
                    continue
                }
                switch JSONPath.parse(text) {
                case .success(let path): source = .json(path)
                case .failure(let r):
                    p.fail("\"\(text)\" \(r.message)", hint: r.hint)
                    ok = false
                    continue
                }
            case "header":
                guard let h = spec.optional("header")!.string() else {
                    ok = false
                    continue
                }
                source = .header(h.lowercased())
            case "cookie":
                guard let c = spec.optional("cookie")!.string() else {
                    ok = false
                    continue
                }
                source = .cookie(c)
            default: break
            }
            var regex: String?
            if let r = spec.optional("regex") {
                guard let pattern = r.string() else {
                    ok = false
                    continue
                }
                do {
                    _ = try LinearRegex(pattern)
                } catch {
                    r.fail("is not a usable regular expression: \(error)", hint: "README, Checks, lists the syntax")
                    ok = false
                    continue
                }
                regex = pattern
            }
            out.append(Capture(name: name, source: source, regex: regex))
        }
        return ok ? out : nil
    }

    /// `{ "check": { "json": "$.status", "equals": "done" }, "every": "500ms", "max": 20 }`.
    package func until(_ node: JSONNode, placeholders: Set<String>) -> Until? {
        guard let obj = node.object(keys: ["check", "every", "max"]) else { return nil }
        let check = obj.required("check", hint: "e.g. {\"json\": \"$.status\", \"equals\": \"done\"}").flatMap {
            self.check($0, placeholders: placeholders)
        }
        let every = obj.required("every", hint: "the pause between attempts, e.g. \"500ms\"")?.duration()
        let max = obj.required("max", hint: "attempts at most, e.g. 20")?.integer(atLeast: 1, atMost: 10_000)
        guard let check, let every, let max else { return nil }
        return Until(check: check, every: every, max: max)
    }
}

extension RequestTemplate {
    /// Every placeholder the request uses: path, headers, body and its checks' expected values.
    public var variables: Set<String> {
        var names = Set(path.variables)
        for h in headers { names.formUnion(h.value.variables) }
        if let body { names.formUnion(body.variables) }
        for c in checks { names.formUnion(c.variables) }
        return names
    }
}

extension Check {
    /// The placeholders of the check's expected value.
    public var variables: [String] {
        switch kind {
        case .status: return []
        case .bodyContains(let t): return t.variables
        case .json(_, let a), .header(_, let a):
            if case .equals(_, let t?) = a { return t.variables }
            return []
        }
    }
}
