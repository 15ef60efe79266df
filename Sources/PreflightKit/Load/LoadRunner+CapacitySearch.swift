import Foundation
import Logging
import PreflightCore

extension LoadRunner {
    /// Runs a capacity search: each step a `constant-arrival-rate` run of its own (its own warm-up, connections and
    /// metrics), judged by the scenario's thresholds on that step's data alone, the next chosen by
    /// `CapacitySearchMachine`. The result's metrics, time series and server view are the last hold's (the figures
    /// at the rate found; for stairs the sustainable stair's), or the last step's when there is none; `capacity` has
    /// every step.
    ///
    /// Step runs never abort the search on an `abortOnFail` threshold (a broken threshold is what a step is there
    /// to find), and each gets at most `stepDuration` of its `gracefulStop` to drain. An interrupt ends the search
    /// after the step in flight; the steps so far are reported.
    ///
    /// Stairs keep a timetable: stair k starts `k × stairSlot` after the first, so the shards of a segmented run
    /// (started together) run each stair together; a stair drains for at most `CapacitySearch.stairDrain`. Each
    /// stair's metrics are kept whole (`RunResult.capacityStairs`) for `merge`.
    ///
    /// Watched live, each step is a `capacity-step` milestone as it starts, and its buckets follow (their `t` is
    /// the step's own; their `time` places them on the search's clock).
    func runCapacitySearch(_ search: CapacitySearch, control: RunControl) async throws -> RunResult {
        let began = ContinuousClock.now
        var machine = CapacitySearchMachine(search)
        // Steps are judged by the client's thresholds; the search's own (`capacity`) is judged once, at the end,
        // and the server's are judged on the last hold, the only step its view is taken for.
        let objectives = scenario.thresholds.filter(\.judgesACapacityStep)
        var last: (result: RunResult, rate: Double, purpose: CapacitySearchMachine.Purpose)?
        var lastHold: (result: RunResult, rate: Double, purpose: CapacitySearchMachine.Purpose)?
        var stairs: [CapacityStairMetrics] = []
        var sustainableStair: (result: RunResult, rate: Double, purpose: CapacitySearchMachine.Purpose)?
        var late: [String] = []
        // A shard offers its share of each rate: judged against the whole rate, every step would look unoffered.
        let share = 1 / Double(options.segment.count)
        var action = machine.start()
        while case .run(let rate, let seconds, let purpose) = action {
            if purpose == .stair {
                let due = began + .seconds(Double(stairs.count) * search.stairSlot)
                let behind = (ContinuousClock.now - due).seconds
                if behind > 0.5 {
                    late.append(
                        "stair \(stairs.count + 1) started \(JSONValue.format((behind * 10).rounded() / 10)) s late"
                    )
                }
                if await control.wait(for: .interrupted, until: due) {
                    machine.interrupted()
                    break
                }
            }
            var step = scenario
            step.load = LoadSettings(
                executor: search.step(level: rate, seconds: seconds),
                gracefulStop: min(
                    scenario.load.gracefulStop,
                    purpose == .stair ? CapacitySearch.stairDrain : search.stepDuration
                )
            )
            step.thresholds = scenario.thresholds.map {
                var t = $0
                t.abortOnFail = false
                return t
            }
            var stepOptions = options
            stepOptions.scraper =
                purpose == .hold || purpose == .stair
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
            options.live?.send(
                .milestone(
                    LiveMilestone(
                        name: "capacity-step",
                        t: (ContinuousClock.now - began).seconds,
                        time: Date().timeIntervalSince1970,
                        detail: "\(purpose.rawValue) at \(JSONValue.format((rate * 10).rounded() / 10)) per "
                            + DurationText.format(seconds: search.timeUnit)
                    )
                )
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
            let figures = CapacitySearchMachine.Figures.of(
                result,
                // A closed step offers no rate: its VUs take what the answers allow.
                offeredPerSecond: search.model == .open ? rate / search.timeUnit * share : 0,
                issuingSeconds: seconds,
                thresholds: objectives,
                requestNames: plan.requestNames
            )
            if purpose == .stair { stairs.append(CapacityStairMetrics(metrics: result.metrics, figures: figures)) }
            action = machine.finished(figures)
            if purpose == .stair, figures.problem == nil, machine.firstBad == nil { sustainableStair = last }
        }
        guard let (chosen, rate, purpose) = lastHold ?? sustainableStair ?? last else {
            throw CapacitySearchError.noStep
        }
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
        if !late.isEmpty, !options.segment.isWhole {
            result.warnings.append(
                "\(late.joined(separator: ", ")) (a drain or warm-up overran the \(JSONValue.format(CapacitySearch.stairGap)) s "
                    + "between stairs): the shards may not have run those stairs together"
            )
        }
        result.capacity = CapacitySection(
            machine,
            objectives: objectives.map(\.expression),
            totalSeconds: (ContinuousClock.now - began).seconds
        )
        if search.stairs != nil { result.capacityStairs = stairs }
        return result
    }
}

/// A capacity search that ran no step at all.
struct CapacitySearchError: Error, CustomStringConvertible {
    static let noStep = CapacitySearchError()
    var description: String { "the capacity search ran no step" }
}

extension CapacitySearchMachine.Figures {
    /// A step's figures from its run: offered and achieved rates, drops, errors, latency percentiles, the thresholds
    /// it broke, and its latency trend (the mean bucket p95 over the first and the last third of its issuing time).
    static func of(
        _ result: RunResult,
        offeredPerSecond: Double,
        issuingSeconds: Double,
        thresholds: [ThresholdSpec],
        requestNames: [String]
    ) -> Self {
        let issued = result.timeseries.filter { $0.p95 != nil && $0.t <= issuingSeconds + result.bucketSeconds / 2 }
        let third = issued.count / 3
        let mean = { (points: ArraySlice<TimePoint>) in points.compactMap(\.p95).reduce(0, +) / Double(points.count) }
        return .judged(
            result.metrics,
            requestNames: requestNames,
            seconds: result.durationSeconds,
            offered: offeredPerSecond,
            thresholds: thresholds,
            p95Early: issued.count >= 3 ? mean(issued.prefix(third)) : nil,
            p95Late: issued.count >= 3 ? mean(issued.suffix(third)) : nil
        )
    }
}
