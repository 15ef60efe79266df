import Foundation

/// A scenario compiled for the hot path: request templates as byte segments, weights as a cycle, data feeds as
/// index functions. Nothing here allocates per request except the buffer of a request that has placeholders.
public struct RequestPlan: Sendable {
    /// Where a placeholder's value comes from.
    package enum Slot: Sendable {
        case feed(Int)
        case iteration
        case vu
        /// A value an earlier step of the flow captured (index into the VU's captures).
        case capture(Int)
    }

    package enum Segment: Sendable {
        case bytes([UInt8])
        case value(Slot, Escaping)
    }

    package enum Escaping: Sendable {
        case path, header, none
        /// A whole JSON value by the value's type (number, boolean, or a quoted, escaped string).
        case jsonValue
        /// A quoted, escaped JSON string whatever the value's type.
        case jsonString
        /// Escaped for the inside of a JSON string.
        case jsonEscaped
    }

    /// A placeholder's value: its text and its JSON type.
    package typealias Value = (text: String, type: ValueType)

    /// A request template as values with holes: the method, the path, each header and the body as segments. It
    /// knows no wire format; `prepare` fills the holes into a `RequestMessage` and the transport encodes that.
    package struct CompiledRequest: Sendable {
        package var name: String
        package var method: String
        package var path: [Segment]
        /// The target's headers the request does not override, the request's own, and Preflight's User-Agent
        /// unless either sets one (`HeaderMerge`).
        package var headers: [(name: String, value: [Segment])]
        package var body: [Segment]?
        /// The whole message when nothing in it has a placeholder: sent as is, nothing rendered per request.
        package var constantMessage: RequestMessage?
        /// The headers when none has a placeholder (the path or body may still have one).
        package var constantHeaders: [(name: String, value: String)]?
        package var wantsBody: Bool
        package var wantsHeaders: Bool
        package var timeout: Double
        package var checks: [CompiledCheck]
    }

    /// A flow step's settings, compiled: captures by slot, the `until` check, what a failure does.
    package struct CompiledStep: Sendable {
        package var captures: [(slot: Int, source: Capture.Source, pattern: String?)]
        package var until: (check: CompiledCheck, every: Double, max: Int)?
        package var onFailure: FlowStep.OnFailure
    }

    package struct CompiledCheck: Sendable {
        package var label: String
        package var kind: Check.Kind
        package var equalsTemplate: [Segment]?
        /// Compiled per shard: `Regex` is not `Sendable`.
        package var pattern: String?
    }

    package let requests: [CompiledRequest]
    package let weightCycle: [Int]
    package let feeds: [DataFeed]
    package let seed: UInt64
    package let maxBodyBytes: Int
    /// The flow's steps (step `k` sends request `k`), or nil for weighted requests.
    package let steps: [CompiledStep]?
    /// Every name the flow captures, by slot.
    package let captureNames: [String]
    /// A flow keeps cookies (`http.cookies`): every step then reads its answer's headers for `Set-Cookie`.
    package let cookies: Bool
    /// Redirects followed per request (`http.redirects`).
    package let redirects: Int

    public var requestNames: [String] { requests.map(\.name) }
    public var checkLabels: [[String]] { requests.map { $0.checks.map(\.label) } }

    public init(scenario: Scenario, seed: UInt64) {
        self.seed = seed
        feeds = scenario.data
        maxBodyBytes = scenario.http.maxBodyBytes
        var captureNames: [String] = []
        for step in scenario.flow ?? [] {
            for c in step.captures where !captureNames.contains(c.name) { captureNames.append(c.name) }
        }
        self.captureNames = captureNames
        cookies = scenario.flow != nil && scenario.http.cookies
        redirects = scenario.http.redirects
        let cookies = self.cookies
        let slotOf: (String) -> Slot = { name in
            switch name {
            case "iteration": return .iteration
            case "vu": return .vu
            default:
                if let f = scenario.data.firstIndex(where: { $0.name == name }) { return .feed(f) }
                return .capture(captureNames.firstIndex(of: name)!)
            }
        }
        func compile(_ c: Check) -> CompiledCheck {
            var equals: [Segment]?
            var pattern: String?
            switch c.kind {
            case .json(_, let a), .header(_, let a):
                if case .equals(_, let t?) = a { equals = segments(t, .none) }
                if case .matches(let p) = a { pattern = p }
            case .bodyContains(let t): equals = segments(t, .none)
            case .status: break
            }
            return CompiledCheck(label: c.label, kind: c.kind, equalsTemplate: equals, pattern: pattern)
        }
        func segments(_ template: Template, _ escaping: Escaping) -> [Segment] {
            template.parts.map {
                switch $0 {
                case .literal(let s): .bytes(Array(s.utf8))
                case .variable(let v): .value(slotOf(v), escaping)
                }
            }
        }
        func segments(_ body: BodyTemplate) -> [Segment] {
            switch body {
            case .text(let t): return segments(t, .none)
            case .json(let j):
                return j.parts.map {
                    switch $0 {
                    case .literal(let s): .bytes(Array(s.utf8))
                    case .value(let v): .value(slotOf(v), .jsonValue)
                    case .string(let v): .value(slotOf(v), .jsonString)
                    case .escaped(let v): .value(slotOf(v), .jsonEscaped)
                    }
                }
            }
        }
        let target = scenario.target
        let flow = scenario.flow
        requests = scenario.requests.enumerated().map { k, r in
            let step = flow?[k]
            var reads = r.checks
            if let until = step?.until { reads.append(until.check) }
            let capturesNeedBody = step?.captures.contains { $0.source.readsBody } ?? false
            let capturesNeedHeaders = step?.captures.contains { !$0.source.readsBody } ?? false
            let (kept, hasUserAgent) = HeaderMerge.targetHeaders(target.headers, besides: r.headers.map(\.name))
            var headers = kept.map { (name: $0.name, value: [Segment.bytes(Array($0.value.utf8))]) }
            headers += r.headers.map { (name: $0.name, value: segments($0.value, .header)) }
            if !hasUserAgent {
                headers.append((HeaderMerge.userAgent.name, [.bytes(Array(HeaderMerge.userAgent.value.utf8))]))
            }
            var compiled = CompiledRequest(
                name: r.name,
                method: r.method,
                path: segments(r.path, .path),
                headers: headers,
                body: r.body.map { segments($0) },
                constantMessage: nil,
                constantHeaders: nil,
                wantsBody: reads.contains { $0.needsBody } || capturesNeedBody,
                wantsHeaders: reads.contains { $0.needsHeaders } || capturesNeedHeaders || cookies,
                timeout: r.timeout ?? scenario.http.timeout,
                checks: r.checks.map(compile)
            )
            let noValue: (Slot) -> Value = { _ in ("", .string) }
            if r.headers.allSatisfy({ $0.value.isConstant }) {
                compiled.constantHeaders = RequestPlan.renderHeaders(compiled.headers, value: noValue)
            }
            if r.path.isConstant && compiled.constantHeaders != nil && (r.body?.isConstant ?? true) {
                compiled.constantMessage = RequestPlan.message(compiled, value: noValue)
            }
            return compiled
        }
        weightCycle = RequestPlan.smoothWeightedCycle(scenario.requests.map(\.weight))
        steps = flow?.map { step in
            CompiledStep(
                captures: step.captures.map { (captureNames.firstIndex(of: $0.name)!, $0.source, $0.regex) },
                until: step.until.map { (compile($0.check), $0.every, $0.max) },
                onFailure: step.onFailure
            )
        }
    }

    /// Which request iteration `i` sends: a smooth weighted round robin, exact over every cycle of sum(weights).
    package func requestIndex(iteration i: Int) -> Int { weightCycle[i % weightCycle.count] }

    /// The feed value position for iteration `i`, or nil when a `unique` feed is exhausted.
    package func valueIndex(feed f: Int, iteration i: Int) -> Int? {
        let feed = feeds[f]
        switch feed.order {
        case .sequential: return i % feed.values.count
        case .unique: return i < feed.values.count ? i : nil
        case .random:
            let draw = SplitMix64.mix(seed ^ SplitMix64.hash(feed.name) ^ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
            return Int(draw % UInt64(feed.values.count))
        }
    }

    /// The first iteration a `unique` feed has no value for, if there is such a feed.
    package var iterationLimit: Int? { feeds.filter { $0.order == .unique }.map(\.values.count).min() }

    /// `{{iteration}}` and `{{vu}}` are numbers (0-based); feed values carry the type they were read with.
    package func value(_ slot: Slot, iteration: Int, vu: Int, captures: [Value?] = []) -> Value {
        switch slot {
        case .iteration: return (String(iteration), .number)
        case .vu: return (String(vu), .number)
        case .capture(let c): return c < captures.count ? captures[c] ?? ("", .string) : ("", .string)
        case .feed(let f):
            let i = valueIndex(feed: f, iteration: iteration) ?? 0
            return (feeds[f].values[i], feeds[f].types[i])
        }
    }

    /// Encodes the request of iteration `i` for VU `vu`.
    package func prepare(iteration i: Int, vu: Int) -> PreparedRequest {
        prepare(request: requestIndex(iteration: i), iteration: i, vu: vu)
    }

    /// Request `index` with the data of iteration `i` (the probe picks its request by name).
    package func prepare(
        request index: Int,
        iteration i: Int,
        vu: Int,
        timeout: Double? = nil,
        captures: [Value?] = []
    ) -> PreparedRequest {
        let r = requests[index]
        return PreparedRequest(
            requestIndex: index,
            iteration: i,
            vu: vu,
            message: r.constantMessage
                ?? RequestPlan.message(r) { value($0, iteration: i, vu: vu, captures: captures) },
            wantsBody: r.wantsBody,
            timeout: timeout ?? r.timeout,
            wantsHeaders: r.wantsHeaders,
            isConstant: r.constantMessage != nil
        )
    }

    /// A request's message with its placeholders filled.
    package static func message(_ r: CompiledRequest, value: (Slot) -> Value) -> RequestMessage {
        var path: [UInt8] = []
        write(r.path, into: &path, value: value)
        var body: [UInt8]?
        if let segments = r.body {
            var bytes: [UInt8] = []
            write(segments, into: &bytes, value: value)
            body = bytes
        }
        return RequestMessage(
            method: r.method,
            path: String(decoding: path, as: UTF8.self),
            headers: r.constantHeaders ?? renderHeaders(r.headers, value: value),
            body: body
        )
    }

    package static func renderHeaders(
        _ headers: [(name: String, value: [Segment])],
        value: (Slot) -> Value
    ) -> [(name: String, value: String)] {
        headers.map { header in
            var bytes: [UInt8] = []
            write(header.value, into: &bytes, value: value)
            return (header.name, String(decoding: bytes, as: UTF8.self))
        }
    }

    /// A template rendered with the data of iteration `i` (mock bodies use the request's own data).
    package func render(_ template: Template, iteration i: Int, vu: Int) -> String {
        template.render { name in lookup(name, iteration: i, vu: vu).text }
    }

    /// A mock body rendered with the data of iteration `i`, JSON bodies with the same typing as request bodies.
    package func render(_ body: BodyTemplate, iteration i: Int, vu: Int) -> String {
        RequestPlan.render(body) { lookup($0, iteration: i, vu: vu) }
    }

    /// A body rendered with values by placeholder name (the drill's canary has its own: seq, now, firstSeq).
    package static func render(_ body: BodyTemplate, value: (String) -> Value) -> String {
        switch body {
        case .text(let t): return t.render { value($0).text }
        case .json(let j):
            var bytes: [UInt8] = []
            for part in j.parts {
                switch part {
                case .literal(let s): bytes.append(contentsOf: s.utf8)
                case .value(let v): writeJSON(value(v), .jsonValue, into: &bytes)
                case .string(let v): writeJSON(value(v), .jsonString, into: &bytes)
                case .escaped(let v): writeJSON(value(v), .jsonEscaped, into: &bytes)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private func lookup(_ name: String, iteration i: Int, vu: Int) -> Value {
        switch name {
        case "iteration": return value(.iteration, iteration: i, vu: vu)
        case "vu": return value(.vu, iteration: i, vu: vu)
        default:
            return feeds.firstIndex { $0.name == name }.map { value(.feed($0), iteration: i, vu: vu) } ?? ("", .string)
        }
    }

    package static func write(_ segments: [Segment], into bytes: inout [UInt8], value: (Slot) -> Value) {
        for segment in segments {
            switch segment {
            case .bytes(let b): bytes.append(contentsOf: b)
            case .value(let slot, let escaping):
                let v = value(slot)
                let text = v.text
                switch escaping {
                case .jsonValue, .jsonString, .jsonEscaped: writeJSON(v, escaping, into: &bytes)
                case .none: bytes.append(contentsOf: text.utf8)
                case .header:
                    // A header value holds no line break, whatever the data says: no header can be injected.
                    for byte in text.utf8 { bytes.append(byte == 13 || byte == 10 ? UInt8(ascii: " ") : byte) }
                case .path:
                    for byte in text.utf8 {
                        if pathSafe(byte) {
                            bytes.append(byte)
                        } else {
                            bytes.append(UInt8(ascii: "%"))
                            bytes.append(hexDigits[Int(byte >> 4)])
                            bytes.append(hexDigits[Int(byte & 0xF)])
                        }
                    }
                }
            }
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Writes a value into a JSON body: typed, as a string, or escaped inside a string.
    package static func writeJSON(_ v: Value, _ escaping: Escaping, into bytes: inout [UInt8]) {
        if case .jsonValue = escaping, v.type != .string {
            bytes.append(contentsOf: v.text.utf8)
            return
        }
        let quoted = if case .jsonEscaped = escaping { false } else { true }
        if quoted { bytes.append(UInt8(ascii: "\"")) }
        JSONEscape.appendEscaped(
            v.text,
            write: { s in s.withUTF8Buffer { bytes.append(contentsOf: $0) } },
            byte: { bytes.append($0) }
        )
        if quoted { bytes.append(UInt8(ascii: "\"")) }
    }

    /// Bytes a placeholder's value keeps as-is in a path or query: RFC 3986's unreserved characters and the
    /// sub-delimiters that mean nothing there. Everything else is percent-encoded, `/ ? # % & = +` included, so a
    /// value always stays one path segment or one query value (`a/b` is sent as `a%2Fb`).
    package static func pathSafe(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return "-._~!$'()*,;:@".utf8.contains(b)
        }
    }

    package static func smoothWeightedCycle(_ weights: [Int]) -> [Int] {
        guard weights.count > 1 else { return [0] }
        let divisor = weights.reduce(0) { gcd($0, $1) }
        let reduced = weights.map { $0 / divisor }
        let length = min(reduced.reduce(0, +), 100_000)
        var current = [Int](repeating: 0, count: weights.count)
        var cycle: [Int] = []
        cycle.reserveCapacity(length)
        let sum = reduced.reduce(0, +)
        for _ in 0..<length {
            for j in current.indices { current[j] += reduced[j] }
            let best = current.indices.max { current[$0] < current[$1] || (current[$0] == current[$1] && $0 > $1) }!
            current[best] -= sum
            cycle.append(best)
        }
        return cycle
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    // MARK: Checks

    /// Evaluates the checks of request `index` on an outcome; returns one Bool per check.
    /// The regular expressions of every check, compiled for one shard (nil where a check has none).
    package func compileRegexes() -> [[LinearRegex?]] {
        requests.map { $0.checks.map { c in c.pattern.flatMap { try? LinearRegex($0) } } }
    }

    /// The regular expressions of each flow step, compiled for one shard: its captures' and its `until` check's.
    package func compileStepRegexes() -> [(captures: [LinearRegex?], until: LinearRegex?)] {
        (steps ?? []).map { step in
            (
                step.captures.map { c in c.pattern.flatMap { try? LinearRegex($0) } },
                step.until?.check.pattern.flatMap { try? LinearRegex($0) }
            )
        }
    }

    package func evaluateChecks(
        _ index: Int,
        outcome: HTTPOutcome,
        iteration: Int,
        vu: Int,
        regexes: [LinearRegex?],
        captures: [Value?] = [],
        into results: inout [Bool]
    ) {
        results.removeAll(keepingCapacity: true)
        let checks = requests[index].checks
        guard !checks.isEmpty else { return }
        var parsed: JSONValue??
        for (n, check) in checks.enumerated() {
            results.append(
                evaluate(check, outcome, iteration: iteration, vu: vu, regex: regexes[n], captures: captures, &parsed)
            )
        }
    }

    /// Whether step `k`'s `until` check holds on its answer (true for a step without one).
    package func untilHolds(
        step k: Int,
        outcome: HTTPOutcome,
        iteration: Int,
        vu: Int,
        regex: LinearRegex?,
        captures: [Value?]
    ) -> Bool {
        guard let until = steps?[k].until else { return true }
        var parsed: JSONValue??
        return outcome.error == nil
            && evaluate(until.check, outcome, iteration: iteration, vu: vu, regex: regex, captures: captures, &parsed)
    }

    /// Takes step `k`'s captures from its answer into `captures`; false when one found nothing (its slot is then
    /// cleared, so a `continue`d flow never sends a stale value).
    package func capture(
        step k: Int,
        outcome: HTTPOutcome,
        regexes: [LinearRegex?],
        into captures: inout [Value?]
    ) -> Bool {
        guard let step = steps?[k], !step.captures.isEmpty else { return true }
        if captures.count < captureNames.count {
            captures.append(contentsOf: repeatElement(nil, count: captureNames.count - captures.count))
        }
        var parsed: JSONValue??
        var all = true
        for (n, c) in step.captures.enumerated() {
            var found: Value?
            if outcome.error == nil && outcome.status > 0 {
                switch c.source {
                case .json(let path):
                    if parsed == nil { parsed = .some(outcome.body.flatMap { try? JSONValue.parse(Data($0)) }) }
                    found = parsed!.flatMap { path.evaluate($0) }.flatMap(Self.captured)
                case .header(let name):
                    found = outcome.headers?.first(name: name).map { ($0, .string) }
                case .cookie(let name):
                    found = outcome.headers.flatMap { Self.cookie(name, in: $0) }.map { ($0, .string) }
                case .body:
                    found = outcome.body.map { (String(decoding: $0, as: UTF8.self), .string) }
                }
            }
            if let value = found, let regex = regexes[n] {
                found = regex.firstMatch(in: value.text).map { ($0, ValueType.inferred(from: $0)) }
            }
            captures[c.slot] = found
            if found == nil { all = false }
        }
        return all
    }

    /// A captured JSON value: a number or boolean keeps its type; null and absence capture nothing.
    static func captured(_ value: JSONValue) -> Value? {
        switch value {
        case .null: return nil
        case .number: return (value.textValue, .number)
        case .bool: return (value.textValue, .bool)
        default: return (value.textValue, .string)
        }
    }

    /// The value of cookie `name` in the answer's `Set-Cookie` fields (the last one that sets it).
    package static func cookie(_ name: String, in headers: ResponseHeaders) -> String? {
        headers["set-cookie"].compactMap(CookieJar.nameAndValue).last { $0.name == name }?.value
    }

    private func evaluate(
        _ check: CompiledCheck,
        _ outcome: HTTPOutcome,
        iteration: Int,
        vu: Int,
        regex: LinearRegex?,
        captures: [Value?],
        _ parsed: inout JSONValue??
    ) -> Bool {
        let expected: () -> String = {
            var b: [UInt8] = []
            RequestPlan.write(check.equalsTemplate ?? [], into: &b) {
                value($0, iteration: iteration, vu: vu, captures: captures)
            }
            return String(decoding: b, as: UTF8.self)
        }
        switch check.kind {
        case .status(let codes):
            return codes.contains(outcome.status)
        case .bodyContains:
            let body = outcome.body.map { String(decoding: $0, as: UTF8.self) } ?? ""
            return outcome.error == nil && body.contains(expected())
        case .header(let name, let assertion):
            let v = outcome.headers?.first(name: name)
            return outcome.status > 0
                && RequestPlan.holds(assertion, actual: v.map { .string($0) }, expected: expected, regex: regex)
        case .json(let path, let assertion):
            if parsed == nil {
                parsed = .some(outcome.body.flatMap { try? JSONValue.parse(Data($0)) })
            }
            let doc = parsed!
            return doc != nil
                && RequestPlan.holds(
                    assertion,
                    actual: doc.flatMap { path.evaluate($0) },
                    expected: expected,
                    regex: regex
                )
        }
    }

    package static func holds(
        _ assertion: Check.Assertion,
        actual: JSONValue?,
        expected: () -> String,
        regex: LinearRegex?
    ) -> Bool {
        switch assertion {
        case .exists(let want):
            let present = actual.map { $0 != .null } ?? false
            return present == want
        case .matches:
            guard let actual, let regex else { return false }
            // Linear in the subject, which is capped: no response can stall the event loop (LinearRegex).
            return regex.matches(actual.textValue)
        case .equals(let value, let template):
            guard let actual else { return false }
            if template != nil { return actual.textValue == expected() }
            switch (value, actual) {
            case (.number(let a), .number(let b)): return a == b
            case (.string(let a), _): return actual.textValue == a
            default: return value == actual
            }
        }
    }
}
