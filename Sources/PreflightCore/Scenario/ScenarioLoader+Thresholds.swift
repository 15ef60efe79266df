import Foundation

/// The `warmup` and `thresholds` blocks.
extension Reader {
    package func warmup(_ node: JSONNode) -> Warmup? {
        guard let obj = node.object(keys: ["requests"]) else { return nil }
        guard let n = obj.required("requests")?.integer(atLeast: 0, atMost: 1_000_000) else { return nil }
        return Warmup(requests: n)
    }

    package func thresholds(_ node: JSONNode, requestNames: Set<String>?, serverSeries: Set<String>) -> [ThresholdSpec]
    {
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
                switch ThresholdSpec.parse(
                    metric: key,
                    expression: expression,
                    requestNames: requestNames,
                    serverSeries: serverSeries
                ) {
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
