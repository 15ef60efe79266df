import Foundation
import PreflightCore

/// `preflight merge`: the reports of a distributed run (`run --segment I/N` on N machines) as one report whose
/// percentiles come from the added HDR histograms and whose thresholds are evaluated on the merged data (SPEC §12).
public enum ReportMerge {
    /// One shard's report and the name used for it in messages (its path).
    public struct Shard: Sendable {
        public var name: String
        public var report: Report

        public init(name: String, report: Report) {
            self.name = name
            self.report = report
        }
    }

    /// Why shards cannot be merged, naming the shard and the field.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Merges `shards`; missing or repeated segments are refused unless `allowPartial`, which marks the verdict.
    public static func merge(_ shards: [Shard], allowPartial: Bool = false) throws(Refusal) -> Report {
        guard let first = shards.first else { throw Refusal(description: "no reports to merge") }
        let segments = try check(shards)
        let count = segments[0].count
        var seen: [Int: String] = [:]
        for (shard, segment) in zip(shards, segments) {
            if let other = seen[segment.index] {
                throw Refusal(description: "segment \(segment) twice: \(other) and \(shard.name)")
            }
            seen[segment.index] = shard.name
        }
        let missing = (0..<count).filter { seen[$0] == nil }
        if !missing.isEmpty && !allowPartial {
            throw Refusal(
                description: "segments \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")) missing; "
                    + "give every shard's report, or --allow-partial to merge these (the verdict then says partial)"
            )
        }

        let names = first.report.requests.map(\.name)
        var metrics = RunMetrics(checkCounts: first.report.requests.map(\.checkResults.count))
        for shard in shards { metrics.add(runMetrics(of: shard.report)) }
        let start = shards.map(\.report.run.startedAt).min()!
        let end = shards.map { $0.report.run.startedAt.addingTimeInterval($0.report.run.durationSeconds) }.max()!
        let duration = end.timeIntervalSince(start)
        let specs = first.report.thresholds.compactMap { t -> ThresholdSpec? in
            guard
                case .success(var spec) = ThresholdSpec.parse(
                    metric: t.metric,
                    expression: t.expression,
                    requestNames: nil
                )
            else { return nil }
            spec.abortOnFail = t.abortOnFail ?? false
            spec.isDefault = t.default ?? false
            return spec
        }
        // Stairs: each stair judged again on the shards' sum; the report's figures are the sustainable stair's.
        let stairs = try mergedStairs(shards, names: names, objectives: specs.filter(\.judgesACapacityStep))
        var measured = duration
        if let stairs, let (stair, seconds) = stairs.chosen {
            metrics = stair
            measured = seconds
        }
        // Every shard scraped the same server over nearly the same window: the first shard's view stands for it.
        var values = MetricValues(
            metrics: metrics,
            requestNames: names,
            durationSeconds: measured,
            server: first.report.server
        )
        values.capacity = stairs.flatMap { $0.section.confirmed ? $0.section.sustainableRate : nil }
        let thresholds = ThresholdResult.evaluate(specs, values: values)

        var report = first.report
        let runs = shards.map(\.report.run)
        report.run.id = UUID().uuidString.lowercased()
        report.run.startedAt = start
        report.run.endedAt = runs.map(\.endedAt).max()!
        report.run.durationSeconds = duration
        report.run.segment = seen.keys.sorted().map(String.init).joined(separator: ",") + "/\(count)"
        report.run.interrupted = runs.contains(where: \.interrupted)
        report.run.aborted = runs.contains(where: \.aborted)
        report.run.dataExhausted = runs.contains(where: \.dataExhausted)
        report.run.eventLoops = runs.reduce(0) { $0 + $1.eventLoops }
        report.run.harnessCPUSeconds = runs.reduce(0) { $0 + $1.harnessCPUSeconds }
        report.run.abandonedIterations = runs.reduce(0) { $0 + ($1.abandonedIterations ?? 0) }
        report.run.harness = nil  // one per machine: each shard's is in its own report; saturation is in warnings
        report.metrics = Report.metricSummaries(values: values, thresholds: specs, flow: first.report.flow != nil)
        report.flow = first.report.flow.map {
            Report.FlowSection(
                steps: $0.steps,
                stopped: metrics.flowsStopped,
                iterationDuration: EncodedHistogram(metrics.iterationDuration)
            )
        }
        report.requests = zip(names, metrics.requests).enumerated().map { i, pair in
            Report.requestSummary(
                pair.0,
                pair.1,
                checkLabels: first.report.requests[i].checkResults.map(\.name),
                duration: measured
            )
        }
        report.capacity = stairs?.section
        report.capacityStairs = stairs?.data
        report.histograms = Report.encodedHistograms(names: names, requests: metrics.requests)
        report.phaseHistograms = Report.encodedPhases(names: names, requests: metrics.requests)
        report.thresholds = thresholds
        report.timeseries = timeseries(shards, start: start, bucket: first.report.run.bucketSeconds)
        let mocked = shards.filter { $0.report.transport.mode == .mock }
        if let m = mocked.first {
            report.transport = m.report.transport
            report.transport.reason =
                "\(mocked.count) of \(shards.count) segments ran on the mock transport: "
                + m.report.transport.reason
        }
        var warnings = [
            "merged from \(shards.count) segment reports: \(shards.map(\.name).joined(separator: ", ")); "
                + "summary, percentiles and thresholds come from the added histograms and counters (exact); the time "
                + "series adds requests, errors and VUs per wall-clock bucket and shows the highest segment's "
                + "percentiles (per-bucket histograms are not stored)"
        ]
        for (shard, segment) in zip(shards, segments) {
            warnings += shard.report.warnings.map { "segment \(segment): \($0)" }
            if let h = shard.report.run.harness, h.saturated {
                warnings.append("segment \(segment): harness saturated — \(h.reasons.joined(separator: "; "))")
            }
        }
        if Set(runs.map(\.seed)).count > 1 {
            warnings.append("the segments ran with different seeds; give them one --seed for an exact replay")
        }
        report.warnings = warnings

        (report.verdict, report.verdictReason) = VerdictRule(
            inconclusive: [
                report.run.interrupted ? "a segment was interrupted; the merged report is partial" : nil,
                mocked.isEmpty ? nil : "the mock transport answered a segment; results do not describe the target",
                missing.isEmpty
                    ? nil
                    : "partial: \(missing.count) of \(count) segments missing; "
                        + "\(thresholds.filter { !$0.ok }.count) of \(thresholds.count) thresholds failed on the "
                        + "\(seen.count) merged",
            ],
            failures: [Report.failureReason(thresholds).map { $0 + " on the merged data" }],
            thresholds: thresholds
        ).decide {
            thresholds.isEmpty
                ? "no thresholds defined" : "all \(thresholds.count) thresholds passed on the merged data"
        }
        return report
    }

    /// Refuses shards that do not belong together; returns each one's segment.
    static func check(_ shards: [Shard]) throws(Refusal) -> [ExecutionSegment] {
        let first = shards[0]
        var segments: [ExecutionSegment] = []
        for shard in shards {
            let r = shard.report
            guard r.schema == Report.schemaID else {
                throw Refusal(
                    description: "\(shard.name): schema is \(r.schema); this Preflight merges \(Report.schemaID)"
                )
            }
            guard r.drill == nil else {
                throw Refusal(description: "\(shard.name): a drill's report; merge takes load runs (run --segment I/N)")
            }
            guard let segment = r.run.segment.flatMap(ExecutionSegment.init) else {
                throw Refusal(
                    description: "\(shard.name): run.segment is \(r.run.segment.map { "\"\($0)\"" } ?? "null"); merge "
                        + "takes the reports of `preflight run --segment I/N`"
                )
            }
            guard r.scenario.sha256 == first.report.scenario.sha256 else {
                throw Refusal(
                    description: "\(shard.name): scenario.sha256 \(r.scenario.sha256.prefix(12))… is not "
                        + "\(first.name)'s \(first.report.scenario.sha256.prefix(12))…: a different scenario file"
                )
            }
            if let n = segments.first?.count, segment.count != n {
                throw Refusal(
                    description: "\(shard.name): run.segment \(segment) is one of \(segment.count) segments, "
                        + "\(first.name)'s one of \(n)"
                )
            }
            guard r.requests.map(\.name) == first.report.requests.map(\.name) else {
                throw Refusal(description: "\(shard.name): requests differ from \(first.name)'s")
            }
            guard r.run.bucketSeconds == first.report.run.bucketSeconds else {
                throw Refusal(
                    description: "\(shard.name): run.bucketSeconds \(r.run.bucketSeconds) is not \(first.name)'s "
                        + "\(first.report.run.bucketSeconds)"
                )
            }
            let layout = EncodedHistogram(LatencyHistogram.latency())
            for (request, byStatus) in r.histograms {
                for (status, pair) in byStatus {
                    for h in [pair.corrected, pair.uncorrected]
                    where h.unit != layout.unit || h.significantDigits != layout.significantDigits {
                        throw Refusal(
                            description: "\(shard.name): histograms.\(request).\(status) is in \(h.unit) with "
                                + "\(h.significantDigits) significant digits; this Preflight merges \(layout.unit) "
                                + "with \(layout.significantDigits)"
                        )
                    }
                }
            }
            segments.append(segment)
        }
        return segments
    }

    /// Stairs merged: each stair's data added over the shards and judged again on the sum (the offered and achieved
    /// rates added, the longest shard's seconds, the highest shard's early and late p95), the search replayed on
    /// those figures. The stair whose figures the merged report shows is the sustainable one, else the last.
    struct MergedStairs {
        var section: CapacitySection
        var data: [Report.StairData]
        var chosen: (metrics: RunMetrics, seconds: Double)?
    }

    /// Nil when the shards ran no capacity search; refused when they ran one that cannot be merged (adaptive, or
    /// different stairs).
    static func mergedStairs(
        _ shards: [Shard],
        names: [String],
        objectives: [ThresholdSpec]
    ) throws(Refusal) -> MergedStairs? {
        guard let plan = shards[0].report.capacity else { return nil }
        guard let rates = plan.stairs else {
            throw Refusal(
                description: "\(shards[0].name): an adaptive capacity search does not merge (each process chooses its "
                    + "own steps); give the search fixed \"stairs\""
            )
        }
        var perShard: [[(metrics: RunMetrics, figures: Report.StairData)]] = []
        for shard in shards {
            guard let c = shard.report.capacity, c.stairs == rates, c.timeUnitSeconds == plan.timeUnitSeconds,
                let data = shard.report.capacityStairs
            else {
                throw Refusal(
                    description: "\(shard.name): capacity.stairs is not \(shards[0].name)'s (or its capacityStairs "
                        + "are missing): shards of one stairs plan merge"
                )
            }
            var stairs: [(RunMetrics, Report.StairData)] = []
            for (i, stair) in data.enumerated() {
                guard let m = stair.metrics(names: names) else {
                    throw Refusal(description: "\(shard.name): capacityStairs[\(i)] has other requests than \(names)")
                }
                stairs.append((m, stair))
            }
            perShard.append(stairs)
        }
        let search = CapacitySearch.stairs(rates, timeUnit: plan.timeUnitSeconds, stepDuration: plan.confirmSeconds)
        var machine = CapacitySearchMachine(search)
        _ = machine.start()
        var merged: [CapacityStairMetrics] = []
        for i in 0..<(perShard.map(\.count).min() ?? 0) {
            let stair = perShard.map { $0[i] }
            var sum = RunMetrics(checkCounts: stair[0].metrics.requests.map(\.checksPassed.count))
            for s in stair { sum.add(s.metrics) }
            let data = stair.map(\.figures)
            let figures = CapacitySearchMachine.Figures.judged(
                sum,
                requestNames: names,
                seconds: data.map(\.seconds).max() ?? 0,
                offered: data.reduce(0) { $0 + $1.offeredPerSecond },
                achieved: data.reduce(0) { $0 + $1.achievedPerSecond },
                thresholds: objectives,
                p95Early: data.compactMap(\.p95EarlyMs).max(),
                p95Late: data.compactMap(\.p95LateMs).max()
            )
            merged.append(CapacityStairMetrics(metrics: sum, figures: figures))
            _ = machine.finished(figures)
        }
        if merged.count < rates.count { machine.interrupted() }
        let section = CapacitySection(
            machine,
            objectives: objectives.map(\.expression),
            totalSeconds: shards.compactMap(\.report.capacity?.totalSeconds).max() ?? 0
        )
        let chosen =
            merged.indices.last { i in i < machine.steps.count && machine.steps[i].rate == section.sustainableRate }
            ?? merged.indices.last
        return MergedStairs(
            section: section,
            data: merged.map { Report.StairData($0, names: names) },
            chosen: chosen.map { (merged[$0].metrics, merged[$0].figures.seconds) }
        )
    }

    /// What a report recorded, back as the metrics a run collects (histograms decoded, counters read).
    static func runMetrics(of r: Report) -> RunMetrics {
        var m = RunMetrics(checkCounts: r.requests.map(\.checkResults.count))
        for (i, request) in r.requests.enumerated() {
            for (status, pair) in r.histograms[request.name] ?? [:] {
                m.requests[i].byStatus[Int(status) ?? 0] = LatencyPair(
                    corrected: pair.corrected.decode(),
                    uncorrected: pair.uncorrected.decode()
                )
            }
            for e in ErrorClass.allCases { m.requests[i].errors[e.rawValue] = request.errors[e.name] ?? 0 }
            m.requests[i].checksPassed = request.checkResults.map(\.passed)
            m.requests[i].checksFailed = request.checkResults.map(\.failed)
            m.requests[i].bytesIn = request.bytesIn
            m.requests[i].bytesOut = request.bytesOut
            m.requests[i].truncatedBodies = request.truncatedBodies ?? 0
            m.requests[i].redirects = request.redirects ?? 0
            m.requests[i].http2 = request.http2Requests ?? 0
            m.requests[i].goAwayRetries = request.goAwayRetries ?? 0
            for phase in Phase.allCases {
                if let h = r.phaseHistograms?[request.name]?[phase.metric.rawValue] {
                    m.requests[i].phases[phase.rawValue] = h.decode()
                }
            }
        }
        m.iterations = Int(r.summary(.iterations)?[.count] ?? 0)
        m.droppedIterations = Int(r.summary(.droppedIterations)?[.count] ?? 0)
        m.abandonedIterations = r.run.abandonedIterations ?? 0
        m.vusMax = Int(r.summary(.vusMax)?[.value] ?? 0)
        m.vusPeak = Int(r.summary(.vus)?[.max] ?? 0)
        if let flow = r.flow {
            m.iterationDuration = flow.iterationDuration.decode()
            m.flowsStopped = flow.stopped
        }
        return m
    }

    /// The shards' time series on one wall-clock axis: each shard's buckets moved by its start's offset (in whole
    /// buckets), requests, errors and VUs added, percentiles the highest of the shards that had data.
    static func timeseries(_ shards: [Shard], start: Date, bucket: Double) -> [TimePoint] {
        var points: [Int: TimePoint] = [:]
        for shard in shards {
            let offset = (shard.report.run.startedAt.timeIntervalSince(start) / bucket).rounded()
            for p in shard.report.timeseries {
                let key = Int((p.t / bucket).rounded() + offset)
                var merged =
                    points[key]
                    ?? TimePoint(t: Double(key) * bucket, requests: 0, errors: 0, p50: nil, p95: nil, p99: nil, vus: 0)
                merged.requests += p.requests
                merged.errors += p.errors
                merged.vus += p.vus
                merged.p50 = [merged.p50, p.p50].compactMap { $0 }.max()
                merged.p95 = [merged.p95, p.p95].compactMap { $0 }.max()
                merged.p99 = [merged.p99, p.p99].compactMap { $0 }.max()
                points[key] = merged
            }
        }
        return points.keys.sorted().map { points[$0]! }
    }
}
