import Foundation
import Logging
import PreflightCore

extension LoadRunner {
    /// Runs a capacity search: each step a `constant-arrival-rate` run of its own (its own warm-up, connections and
    /// metrics), judged by the scenario's thresholds on that step's data alone, the next chosen by
    /// `CapacitySearchMachine`. The result's metrics, time series and server view are the last hold's (the figures
    /// at the rate found), or the last step's when no hold ran; `capacity` has every step.
    ///
    /// Step runs never abort the search on an `abortOnFail` threshold (a broken threshold is what a step is there
    /// to find), and each gets at most `stepDuration` of its `gracefulStop` to drain. An interrupt ends the search
    /// after the step in flight; the steps so far are reported.
    func runCapacitySearch(_ search: CapacitySearch, control: RunControl) async throws -> RunResult {
        let began = ContinuousClock.now
        var machine = CapacitySearchMachine(search)
        // Steps are judged by the client's thresholds; the search's own (`capacity`) is judged once, at the end,
        // and the server's are judged on the last hold, the only step its view is taken for.
        let objectives = scenario.thresholds.filter { $0.metric != Metric.capacity.rawValue && !$0.selector.isServer }
        var last: (result: RunResult, rate: Double, purpose: CapacitySearchMachine.Purpose)?
        var lastHold: (result: RunResult, rate: Double, purpose: CapacitySearchMachine.Purpose)?
        var action = machine.start()
        while case .run(let rate, let seconds, let purpose) = action {
            var step = scenario
            step.load = LoadSettings(
                executor: search.step(level: rate, seconds: seconds),
                gracefulStop: min(scenario.load.gracefulStop, search.stepDuration)
            )
            step.thresholds = scenario.thresholds.map {
                var t = $0
                t.abortOnFail = false
                return t
            }
            var stepOptions = options
            stepOptions.scraper =
                purpose == .hold
                ? try options.scraper.map {
                    try ServerScraper(spec: $0.spec, target: scenario.target, targetHTTP: scenario.http)
                } : nil
            logger.info(
                "capacity step",
                metadata: [
                    "capacity.rate": "\(rate)", "capacity.purpose": "\(purpose.rawValue)",
                    "capacity.seconds": "\(seconds)",
                ]
            )
            let result = try await LoadRunner(
                scenario: step,
                transport: transport,
                options: stepOptions,
                logger: logger
            )
            .run(control: control)
            last = (result, rate, purpose)
            if purpose == .hold { lastHold = last }
            if result.interrupted || result.aborted {
                machine.interrupted()
                break
            }
            action = machine.finished(
                .of(
                    result,
                    // A closed step offers no rate: its VUs take what the answers allow.
                    offeredPerSecond: search.model == .open ? rate / search.timeUnit : 0,
                    issuingSeconds: seconds,
                    thresholds: objectives,
                    requestNames: plan.requestNames
                )
            )
        }
        guard let (chosen, rate, purpose) = lastHold ?? last else { throw CapacitySearchError.noStep }
        var result = chosen
        // The figures are this step's: its warnings say so. Other steps' (drops at an overload) are the search.
        let at =
            "\(purpose.rawValue) step at \(JSONValue.format((rate * 10).rounded() / 10)) per \(DurationText.format(seconds: search.timeUnit))"
        result.warnings = result.warnings.map { "\(at): \($0)" }
        if transport is MockTransport {
            result.warnings.append(
                "the mock's latency model has no capacity (its latency does not grow with the rate): the search "
                    + "describes the mock, not a target"
            )
        }
        result.capacity = CapacitySection(
            machine,
            objectives: objectives.map(\.expression),
            totalSeconds: (ContinuousClock.now - began).seconds
        )
        return result
    }
}

/// A capacity search that ran no step at all.
struct CapacitySearchError: Error, CustomStringConvertible {
    static let noStep = CapacitySearchError()
    var description: String { "the capacity search ran no step" }
}

extension CapacitySearchMachine.Figures {
    /// A step's figures from its run: offered and achieved rates, drops, errors, latency percentiles, and the
    /// thresholds it broke.
    static func of(
        _ result: RunResult,
        offeredPerSecond: Double,
        issuingSeconds: Double,
        thresholds: [ThresholdSpec],
        requestNames: [String]
    ) -> Self {
        let values = MetricValues(
            metrics: result.metrics,
            requestNames: requestNames,
            durationSeconds: result.durationSeconds
        )
        let latency = { (p: Double) in values.value(.client(.httpReqDuration, tags: []), aggregation: .percentile(p)) }
        let failed = ThresholdResult.evaluate(thresholds, values: values).filter { !$0.ok }.map { t in
            "\(t.expression) (observed \(t.observed.map { JSONValue.format(($0 * 10).rounded() / 10) } ?? "no data"))"
        }
        let seconds = result.durationSeconds
        // The trend: mean bucket p95 over the first and the last third of the step's issuing time.
        let issued = result.timeseries.filter { $0.p95 != nil && $0.t <= issuingSeconds + result.bucketSeconds / 2 }
        let third = issued.count / 3
        let mean = { (points: ArraySlice<TimePoint>) in points.compactMap(\.p95).reduce(0, +) / Double(points.count) }
        let early = issued.count >= 3 ? mean(issued.prefix(third)) : nil
        let late = issued.count >= 3 ? mean(issued.suffix(third)) : nil
        return Self(
            offered: offeredPerSecond,
            achieved: seconds > 0 ? Double(result.metrics.iterations) / seconds : 0,
            seconds: seconds,
            iterations: result.metrics.iterations,
            dropped: result.metrics.droppedIterations,
            errorRate: values.value(.client(.httpReqFailed, tags: []), aggregation: .rate) ?? 0,
            p50: latency(50),
            p95: latency(95),
            p99: latency(99),
            failedThresholds: failed,
            p95Early: early,
            p95Late: late
        )
    }
}
