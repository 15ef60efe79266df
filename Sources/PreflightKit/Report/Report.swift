import Foundation
import Histogram
import PreflightCore

/// `report.json`, schema `preflight.report/v1` (SPEC §9). Durations are milliseconds unless a key says otherwise.
public struct Report: Codable, Sendable {
    public static let schemaID = "preflight.report/v1"

    public var schema = Report.schemaID
    public var tool: Tool
    public var scenario: ScenarioInfo
    public var run: RunInfo
    public var target: TargetInfo
    public var transport: TransportInfo
    public var verdict: Verdict
    /// One line saying why.
    public var verdictReason: String
    public var metrics: [String: MetricSummary]
    public var requests: [RequestSummary]
    public var thresholds: [ThresholdResult]
    public var timeseries: [TimePoint]
    public var histograms: [String: [String: EncodedLatencyPair]]
    /// Each request's timing phases (SPEC §15) as histograms, by request name and phase metric
    /// (`http_req_waiting`, …), so shards merge exactly; absent in reports written before phases existed.
    public var phaseHistograms: [String: [String: EncodedHistogram]]?
    public var warnings: [String]
    /// The drill's measurements (SPEC §5); absent for load runs.
    public var drill: DrillSection?
    /// The target's own metrics as scraped during the run (`target.metrics`, SPEC §13); absent without it.
    public var server: ServerSection?
    /// The baseline this run was judged against (`run --baseline`, SPEC §13); absent without one.
    public var comparison: ComparisonSection?
    /// A flow's steps and whole iterations (SPEC §14); absent for a scenario of weighted requests.
    public var flow: FlowSection?
    /// A capacity search's answer and every step (SPEC §16); absent for other executors.
    public var capacity: CapacitySection? = nil
    /// Stairs (SPEC §16): each stair's data kept whole, in order, so `merge` judges each stair on the shards' sum;
    /// absent for the adaptive search and other executors.
    public var capacityStairs: [StairData]? = nil

    /// What a flow did as a whole; each step is also a request in `requests`, in flow order.
    public struct FlowSection: Codable, Sendable {
        /// The steps' request names, in order.
        public var steps: [String]
        /// Iterations a failed step stopped (`onFailure: stop`): the steps after it were not sent.
        public var stopped: Int
        /// `iteration_duration`'s histogram (µs), so shards merge exactly; its summary is in `metrics`.
        public var iterationDuration: EncodedHistogram
    }

    public struct Tool: Codable, Sendable {
        public var name: String
        public var version: String
    }

    public struct ScenarioInfo: Codable, Sendable {
        public var name: String
        public var description: String?
        public var file: String
        public var sha256: String
    }

    public struct RunInfo: Codable, Sendable {
        public var id: String
        public var startedAt: Date
        public var endedAt: Date
        public var durationSeconds: Double
        public var seed: UInt64
        /// `I/N` for a shard of a distributed run; null otherwise.
        public var segment: String?
        public var interrupted: Bool
        /// A threshold with `abortOnFail` stopped the run.
        public var aborted: Bool
        /// A `unique` data feed ran out before the planned end.
        public var dataExhausted: Bool
        public var executor: ExecutorInfo
        public var bucketSeconds: Double
        public var eventLoops: Int
        public var harnessCPUSeconds: Double
        /// Iterations still in flight when `gracefulStop` ran out (absent in older reports).
        public var abandonedIterations: Int?
        /// How hard the harness worked and whether it was the bottleneck (absent in older reports).
        public var harness: HarnessLoad?
    }

    public struct ExecutorInfo: Codable, Sendable {
        public var name: String
        /// The executor's parameters as run (rates per second, durations in seconds).
        public var params: [String: Double]
        public var stages: [StageInfo]?
    }

    public struct StageInfo: Codable, Sendable {
        public var target: Double
        public var durationSeconds: Double
    }

    public struct TargetInfo: Codable, Sendable {
        public var baseURL: String
    }

    public struct TransportInfo: Codable, Sendable {
        public var mode: TransportMode
        public var reason: String
        public var probe: ProbeInfo?
        public var mock: MockInfo?
    }

    /// The probe's and the mock's records are the transport layer's own types (the report only carries them).
    public typealias ProbeInfo = PreflightKit.ProbeInfo
    public typealias ProbeAnswer = PreflightKit.ProbeAnswer
    public typealias MockInfo = PreflightKit.MockInfo

    public struct MetricSummary: Codable, Sendable {
        /// `counter`, `gauge`, `rate` or `trend`.
        public var type: String
        /// By statistic as k6 names it (`p(95)`, `count`); read and written through `self[stat]`.
        public var values: [String: Double]

        /// A statistic of a metric summary, with the key report.json stores it under.
        public enum Stat: Sendable, Hashable {
            case avg, min, med, max, count, rate, value, passes, fails, total
            case percentile(Double)

            /// `p(95)`, `count`, …
            public var key: String {
                switch self {
                case .percentile(let p): "p(\(JSONValue.format(p)))"
                default: "\(self)"
                }
            }
        }

        public subscript(_ stat: Stat) -> Double? {
            get { values[stat.key] }
            set { values[stat.key] = newValue }
        }
    }

    /// The protocols the requests went over (`HTTP/1.1`, `HTTP/2`, or each request name's when they differ).
    static func protocols(_ r: Report) -> String {
        let names = Set(r.requests.compactMap(\.protocol))
        if names.count <= 1 { return names.first ?? "HTTP/1.1" }
        return r.requests.compactMap { q in q.protocol.map { "\(q.name): \($0)" } }.joined(separator: "; ")
    }

    /// The summary of a catalog metric over the whole run.
    public func summary(_ metric: Metric) -> MetricSummary? { metrics[metric.rawValue] }

    public struct RequestSummary: Codable, Sendable {
        public var name: String
        public var count: Int
        public var rps: Double
        public var latency: LatencySummary?
        public var latencyUncorrected: LatencySummary?
        public var statusCodes: [String: Int]
        public var errors: [String: Int]
        public var checks: CheckCounts
        public var checkResults: [CheckResult]
        public var bytesIn: Int
        public var bytesOut: Int
        /// Responses whose body was longer than `http.maxBodyBytes`: drained and counted, checked truncated.
        public var truncatedBodies: Int?
        /// Redirects followed (`http.redirects`); absent when none was.
        public var redirects: Int?
        /// Where the time went (SPEC §15), by phase metric (`http_req_waiting`, …), over the answered requests;
        /// absent when none was answered.
        public var phases: [String: LatencySummary]?
        /// `HTTP/1.1`, `HTTP/2`, or both with the HTTP/2 share (SPEC §15).
        public var `protocol`: String?
        /// Requests that went over HTTP/2 (so merged shards keep the share exactly); absent when none did.
        public var http2Requests: Int?
        /// HTTP/2 requests a GOAWAY refused (never processed) and that were sent again on another connection,
        /// once at most; absent when none was.
        public var goAwayRetries: Int?
    }

    public struct CheckCounts: Codable, Sendable {
        public var passed: Int
        public var failed: Int
    }

    public struct CheckResult: Codable, Sendable {
        public var name: String
        public var passed: Int
        public var failed: Int
    }

    public struct LatencySummary: Codable, Sendable, Equatable {
        public var min: Double
        public var mean: Double
        public var p50: Double
        public var p90: Double
        public var p95: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        enum CodingKeys: String, CodingKey {
            case min, mean, p50, p90, p95, p99, max
            case p999 = "p99.9"
        }

        /// Milliseconds from a µs histogram; nil when it is empty.
        public init?(_ h: LatencyHistogram) {
            guard h.totalCount > 0 else { return nil }
            let ms: (UInt64) -> Double = { Double($0) / 1000 }
            min = ms(h.min)
            mean = h.mean / 1000
            p50 = ms(h.valueAtPercentile(50))
            p90 = ms(h.valueAtPercentile(90))
            p95 = ms(h.valueAtPercentile(95))
            p99 = ms(h.valueAtPercentile(99))
            p999 = ms(h.valueAtPercentile(99.9))
            max = ms(h.max)
        }
    }
}

/// A latency histogram in a compact, mergeable form: each recorded bucket's value (µs) and count.
public struct EncodedHistogram: Codable, Sendable, Equatable {
    public var unit = "us"
    public var significantDigits = 3
    public var count: UInt64
    /// `[value, count]` pairs, ascending by value.
    public var buckets: [[UInt64]]

    public init(_ h: LatencyHistogram) {
        count = h.totalCount
        buckets = h.recordedValues().map { [$0.value, $0.count] }
    }

    /// The histogram back; re-recording each bucket's value lands in the same bucket, so merging is exact.
    public func decode() -> LatencyHistogram {
        var h = LatencyHistogram.latency()
        for pair in buckets where pair.count == 2 { h.record(pair[0], count: pair[1]) }
        return h
    }
}

/// Corrected and uncorrected histograms of one (request, status) pair.
public struct EncodedLatencyPair: Codable, Sendable, Equatable {
    public var corrected: EncodedHistogram
    public var uncorrected: EncodedHistogram
}
