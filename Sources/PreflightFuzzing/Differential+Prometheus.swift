import PreflightCore

extension Differential {
    /// The Prometheus text parser against its own round trip: what it parsed, rendered as exposition text, parses
    /// to the same samples and types; every `name{labels}` renders as a selector that reads back the same. A refusal
    /// names a line of the input.
    public static func prometheus(_ data: [UInt8]) -> [String] {
        let text = String(decoding: data, as: UTF8.self)
        let parsed: PrometheusExposition
        do {
            parsed = try PrometheusExposition.parse(text)
        } catch {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            return error.message.isEmpty || error.line < 1 || error.line > lines
                ? ["refused without a line or a reason: \(error)"] : []
        }
        var broken: [String] = []
        let rendered = render(parsed)
        do {
            let again = try PrometheusExposition.parse(rendered)
            if again != parsed {
                broken.append("round trip changed it: \(parsed.samples.count) samples → \(again.samples.count)")
            }
        } catch {
            broken.append("its own rendering is refused: \(error) in \(rendered.debugDescription.prefix(300))")
        }
        for s in parsed.samples {
            let selector = SeriesSelector(name: s.name, matchers: s.labels)
            switch SeriesSelector.parse(selector.description) {
            case .success(let back) where back == selector && back.matches(s): break
            case .success(let back): broken.append("selector \(selector) reads back as \(back)")
            case .failure(let e): broken.append("selector \(selector) is refused: \(e)")
            }
        }
        return broken
    }

    /// Exposition text: `# TYPE` lines, then one line per sample with its labels escaped.
    static func render(_ e: PrometheusExposition) -> String {
        var out = ""
        for (name, type) in e.types.sorted(by: { $0.key < $1.key }) { out += "# TYPE \(name) \(type)\n" }
        for s in e.samples {
            out += s.name
            if !s.labels.isEmpty {
                let labels = s.labels.sorted { $0.key < $1.key }.map { k, v in
                    "\(k)=\"\(PrometheusExposition.escapeLabelValue(v))\""
                }
                out += "{\(labels.joined(separator: ","))}"
            }
            let v = s.value
            let value = v.isNaN ? "NaN" : v == .infinity ? "+Inf" : v == -.infinity ? "-Inf" : "\(v)"
            out += " \(value)\n"
        }
        return out
    }
}
