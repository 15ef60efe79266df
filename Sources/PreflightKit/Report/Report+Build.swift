import Foundation
import Histogram
import PreflightCore

extension Report {
    /// The server's view for `report.json`: computed from the scrapes, or a note saying why there are none.
    static func serverSection(
        _ spec: ServerMetricsSpec,
        target: Target,
        scrapes: [ServerScrape]?,
        mode: TransportMode
    ) -> ServerSection {
        let url =
            spec.url.hasPrefix("/") ? "\(target.baseURL.scheme)://\(target.baseURL.hostHeader)\(spec.url)" : spec.url
        guard mode == .real else {
            return .skipped(spec, url: url, note: "not scraped: the mock transport answered, there is no server")
        }
        guard let scrapes, !scrapes.isEmpty else { return .skipped(spec, url: url, note: "not scraped") }
        return .compute(spec, url: url, scrapes: scrapes)
    }

    /// Assembles the report of a finished (or interrupted) run.
    public static func build(
        scenario: Scenario,
        plan: RequestPlan,
        result: RunResult,
        transport: TransportDecision,
        seed: UInt64,
        allowMock: Bool = false,
        runID: String = UUID().uuidString.lowercased()
    ) -> Report {
        let names = plan.requestNames
        let server = scenario.target.metrics.map { spec in
            serverSection(spec, target: scenario.target, scrapes: result.serverScrapes, mode: transport.mode)
        }
        var values = MetricValues(
            metrics: result.metrics,
            requestNames: names,
            durationSeconds: result.durationSeconds,
            server: server
        )
        values.capacity = result.capacity.flatMap { $0.confirmed ? $0.sustainableRate : nil }
        var thresholds = ThresholdResult.evaluate(scenario.thresholds, values: values)
        if transport.mode == .mock {
            // The mock has no server to scrape: its `server{…}` thresholds are not judged, and say so.
            for (i, spec) in scenario.thresholds.enumerated() where spec.selector.isServer {
                thresholds[i] = .skipped(
                    metric: spec.metric,
                    expression: spec.expression,
                    why: "the mock transport answered: there is no server to scrape"
                )
            }
        }
        let (verdict, reason) = VerdictRule(
            inconclusive: [
                result.interrupted
                    ? "interrupted after \(DurationText.format(seconds: result.durationSeconds)); the report is partial"
                    : nil,
                transport.mode == .mock && !allowMock
                    ? "the mock transport answered (\(transport.reason)); results do not describe the target" : nil,
            ],
            failures: [failureReason(thresholds).map { $0 + (result.aborted ? "; the run was aborted" : "") }],
            thresholds: thresholds
        ).decide { passReason(thresholds) }
        return Report(
            tool: Tool(name: PreflightInfo.name, version: PreflightInfo.version),
            scenario: ScenarioInfo(
                name: scenario.name,
                description: scenario.description,
                file: scenario.file,
                sha256: scenario.sha256
            ),
            run: RunInfo(
                id: runID,
                startedAt: result.startedAt,
                endedAt: result.endedAt,
                durationSeconds: result.durationSeconds,
                seed: seed,
                segment: result.segment.isWhole ? nil : result.segment.description,
                interrupted: result.interrupted,
                aborted: result.aborted,
                dataExhausted: result.dataExhausted,
                executor: executorInfo(scenario.load),
                bucketSeconds: result.bucketSeconds,
                eventLoops: result.eventLoops,
                harnessCPUSeconds: result.cpuSeconds,
                abandonedIterations: result.metrics.abandonedIterations,
                harness: result.harness
            ),
            target: TargetInfo(baseURL: scenario.target.baseURL.description),
            transport: TransportInfo(
                mode: transport.mode,
                reason: transport.reason,
                probe: transport.probe,
                mock: transport.mock
            ),
            verdict: verdict,
            verdictReason: reason,
            metrics: metricSummaries(values: values, thresholds: scenario.thresholds, flow: scenario.flow != nil),
            requests: zip(names, result.metrics.requests).enumerated().map { i, pair in
                requestSummary(pair.0, pair.1, checkLabels: plan.checkLabels[i], duration: result.durationSeconds)
            },
            thresholds: thresholds,
            timeseries: result.timeseries,
            histograms: encodedHistograms(names: names, requests: result.metrics.requests),
            phaseHistograms: encodedPhases(names: names, requests: result.metrics.requests),
            warnings: scenario.loadWarnings + result.warnings
                + (result.dataExhausted ? ["a unique data feed ran out; the scenario stopped issuing early"] : [])
                + (transport.mode == .mock ? transport.advice.map { ["mock chosen by the probe: \($0)"] } ?? [] : [])
                + (server.map { s in
                    s.series.compactMap { series in series.noData.map { "server{\(series.name)} has no data: \($0)" } }
                } ?? [])
                + (server.map { s in
                    s.failedScrapes > 0
                        ? [
                            "\(s.failedScrapes) of \(s.scrapes) scrapes of \(s.url) failed: \(s.errors.joined(separator: "; "))"
                        ]
                        : []
                } ?? []),
            server: server,
            flow: scenario.flow.map { _ in
                FlowSection(
                    steps: names,
                    stopped: result.metrics.flowsStopped,
                    iterationDuration: EncodedHistogram(result.metrics.iterationDuration)
                )
            },
            capacity: result.capacity,
            capacityStairs: result.capacityStairs?.map { StairData($0, names: names) }
        )
    }

    /// "all n thresholds passed" (and how many were skipped, and why).
    static func passReason(_ thresholds: [ThresholdResult]) -> String {
        let skipped = thresholds.filter { $0.skipped != nil }
        let judged = thresholds.count - skipped.count
        var reason =
            thresholds.isEmpty
            ? "no thresholds defined"
            : judged == 1 ? "the 1 threshold passed" : "all \(judged) thresholds passed"
        if let first = skipped.first?.skipped {
            reason += "; \(skipped.count) skipped (\(first))"
        }
        return reason
    }

    /// "k of n thresholds failed, first …" when one failed; nil when all passed.
    static func failureReason(_ thresholds: [ThresholdResult]) -> String? {
        let failed = thresholds.filter { !$0.ok }
        guard let first = failed.first else { return nil }
        let observed = first.observed.map { JSONValue.format(($0 * 1000).rounded() / 1000) } ?? "no data"
        return "\(failed.count) of \(thresholds.count) thresholds failed, first \(first.metric) \(first.expression) "
            + "(observed \(observed))"
    }

    /// `histograms{}`: each request's histograms by status, encoded so that shards merge exactly.
    static func encodedHistograms(
        names: [String],
        requests: [RequestMetrics]
    ) -> [String: [String: EncodedLatencyPair]] {
        Dictionary(
            uniqueKeysWithValues: zip(names, requests).map { name, r in
                (
                    name,
                    Dictionary(
                        uniqueKeysWithValues: r.byStatus.map {
                            (
                                String($0.key),
                                EncodedLatencyPair(
                                    corrected: EncodedHistogram($0.value.corrected),
                                    uncorrected: EncodedHistogram($0.value.uncorrected)
                                )
                            )
                        }
                    )
                )
            }
        )
    }

    /// `phaseHistograms{}`: each request's timing phases, encoded like its latency.
    static func encodedPhases(names: [String], requests: [RequestMetrics]) -> [String: [String: EncodedHistogram]] {
        Dictionary(
            uniqueKeysWithValues: zip(names, requests).map { name, r in
                (
                    name,
                    Dictionary(
                        uniqueKeysWithValues: Phase.allCases.map {
                            ($0.metric.rawValue, EncodedHistogram(r.phases[$0.rawValue]))
                        }
                    )
                )
            }
        )
    }

    /// The exit code this report calls for.
    public var exitStatus: ExitStatus {
        if run.interrupted { return .interrupted }
        switch verdict {
        case .pass: return .pass
        case .fail: return .thresholdsFailed
        case .inconclusive: return .inconclusive
        }
    }

    static func executorInfo(_ load: LoadSettings) -> ExecutorInfo {
        var (params, stages) = load.executor.reportParameters
        params["gracefulStopSeconds"] = load.gracefulStop
        return ExecutorInfo(
            name: load.executor.name,
            params: params,
            stages: stages?.map { StageInfo(target: $0.target, durationSeconds: $0.duration) }
        )
    }

    /// `metrics{}`: every load metric (`iteration_duration` only for a flow), and each sub-metric a threshold names.
    static func metricSummaries(
        values: MetricValues,
        thresholds: [ThresholdSpec],
        flow: Bool
    ) -> [String: MetricSummary] {
        func trend(_ metric: Metric, _ tags: [ThresholdSpec.Tag], extra: [Double] = []) -> MetricSummary {
            var v: [String: Double] = [:]
            let aggs: [(String, ThresholdSpec.Aggregation)] =
                [
                    ("avg", .avg), ("min", .min), ("med", .med), ("max", .max), ("p(90)", .percentile(90)),
                    ("p(95)", .percentile(95)), ("p(99)", .percentile(99)), ("count", .count),
                ]
                + extra.map { ("p(\(JSONValue.format($0)))", .percentile($0)) }
            for (key, agg) in aggs {
                v[key] = values.value(metric, tags: tags, aggregation: agg)
            }
            return MetricSummary(type: "trend", values: v)
        }
        func summary(_ metric: Metric, _ tags: [ThresholdSpec.Tag]) -> MetricSummary {
            let kind = metric.kind
            var v: [String: Double] = [:]
            switch kind {
            case .trend: return trend(metric, tags)
            case .counter:
                v["count"] = values.value(metric, tags: tags, aggregation: .count)
                v["rate"] = values.value(metric, tags: tags, aggregation: .rate)
            case .rate:
                v["rate"] = values.value(metric, tags: tags, aggregation: .rate)
            case .gauge:
                v["value"] = values.value(metric, tags: tags, aggregation: .value)
                v["max"] = values.value(metric, tags: tags, aggregation: .max)
            case .server: break  // the server's series are in `server{}`, not among the client's metrics
            }
            return MetricSummary(type: kind.rawValue, values: v)
        }
        var out: [String: MetricSummary] = [:]
        for metric in Metric.load where flow || metric != .iterationDuration {
            out[metric.rawValue] = summary(metric, [])
        }
        let failed = values.metrics.requests.reduce(0) { $0 + $1.failedCount() }
        out[Metric.httpReqFailed.rawValue]?[.fails] = Double(failed)
        out[Metric.httpReqFailed.rawValue]?[.total] = Double(values.metrics.totalRequests)
        let passed = values.metrics.requests.reduce(0) { $0 + $1.checksPassed.reduce(0, +) }
        let checkFails = values.metrics.requests.reduce(0) { $0 + $1.checksFailed.reduce(0, +) }
        out[Metric.checks.rawValue]?[.passes] = Double(passed)
        out[Metric.checks.rawValue]?[.fails] = Double(checkFails)
        // Sub-metrics named by thresholds, with every percentile those thresholds ask for.
        for t in thresholds {
            guard case .client(let metric, let tags) = t.selector, !tags.isEmpty else { continue }
            if metric.kind == .trend {
                let extra = thresholds.filter { $0.metric == t.metric }.compactMap { th -> Double? in
                    if case .percentile(let p) = th.aggregation { p } else { nil }
                }
                out[t.metric] = trend(metric, tags, extra: extra)
            } else {
                out[t.metric] = summary(metric, tags)
            }
        }
        for t in thresholds where t.selector == .client(.httpReqDuration, tags: []) {
            if case .percentile(let p) = t.aggregation {
                out[Metric.httpReqDuration.rawValue]?[.percentile(p)] = values.value(for: t)
            }
        }
        return out
    }

    /// A request's phases summarised; nil when no request was answered.
    static func phaseSummaries(_ r: RequestMetrics) -> [String: LatencySummary]? {
        guard r.phases[Phase.waiting.rawValue].totalCount > 0 else { return nil }
        return Dictionary(
            uniqueKeysWithValues: Phase.allCases.compactMap { p in
                LatencySummary(r.phases[p.rawValue]).map { (p.metric.rawValue, $0) }
            }
        )
    }

    static func requestSummary(
        _ name: String,
        _ r: RequestMetrics,
        checkLabels: [String],
        duration: Double
    )
        -> RequestSummary
    {
        let latency = r.latency()
        return RequestSummary(
            name: name,
            count: r.count,
            rps: duration > 0 ? Double(r.count) / duration : 0,
            latency: LatencySummary(latency.corrected),
            latencyUncorrected: LatencySummary(latency.uncorrected),
            statusCodes: Dictionary(
                uniqueKeysWithValues: r.byStatus.filter { $0.key != 0 }.map {
                    (String($0.key), Int($0.value.corrected.totalCount))
                }
            ),
            errors: Dictionary(
                uniqueKeysWithValues: ErrorClass.allCases.filter { $0.alwaysReported || r.errors[$0.rawValue] > 0 }.map
                {
                    ($0.name, r.errors[$0.rawValue])
                }
            ),
            checks: CheckCounts(passed: r.checksPassed.reduce(0, +), failed: r.checksFailed.reduce(0, +)),
            checkResults: checkLabels.enumerated().map {
                CheckResult(name: $1, passed: r.checksPassed[$0], failed: r.checksFailed[$0])
            },
            bytesIn: r.bytesIn,
            bytesOut: r.bytesOut,
            truncatedBodies: r.truncatedBodies > 0 ? r.truncatedBodies : nil,
            redirects: r.redirects > 0 ? r.redirects : nil,
            phases: phaseSummaries(r),
            protocol: r.count > 0 ? r.protocolName : nil,
            http2Requests: r.http2 > 0 ? r.http2 : nil,
            goAwayRetries: r.goAwayRetries > 0 ? r.goAwayRetries : nil
        )
    }
}
