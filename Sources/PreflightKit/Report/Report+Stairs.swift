import Histogram
import PreflightCore

extension Report {
    /// One stair of a capacity search's stairs, its data kept whole (histograms and counters, as the report keeps
    /// the run's), so `preflight merge` can add the shards' stairs and judge each on the sum.
    public struct StairData: Codable, Sendable, Equatable {
        /// The stair's measured seconds (its drain included).
        public var seconds: Double
        /// Iterations per second this process offered and achieved (a shard's share).
        public var offeredPerSecond: Double
        public var achievedPerSecond: Double
        /// Mean bucket p95 (ms) over the stair's first and last third.
        public var p95EarlyMs: Double?
        public var p95LateMs: Double?
        public var iterations: Int
        public var dropped: Int
        public var requests: [Request]

        /// One request name's data in the stair.
        public struct Request: Codable, Sendable, Equatable {
            public var name: String
            /// Latency by status, as `Report.histograms` keeps it.
            public var histograms: [String: EncodedLatencyPair]
            /// Timing phases with data, by phase metric.
            public var phases: [String: EncodedHistogram]
            /// Counts by error class name; classes with none are left out.
            public var errors: [String: Int]
            public var checksPassed: [Int]
            public var checksFailed: [Int]
            public var bytesIn: Int
            public var bytesOut: Int
        }

        public init(_ stair: CapacityStairMetrics, names: [String]) {
            let f = stair.figures
            seconds = f.seconds
            offeredPerSecond = f.offered
            achievedPerSecond = f.achieved
            p95EarlyMs = f.p95Early
            p95LateMs = f.p95Late
            iterations = stair.metrics.iterations
            dropped = stair.metrics.droppedIterations
            let histograms = Report.encodedHistograms(names: names, requests: stair.metrics.requests)
            requests = zip(names, stair.metrics.requests).map { name, r in
                Request(
                    name: name,
                    histograms: histograms[name] ?? [:],
                    phases: Dictionary(
                        uniqueKeysWithValues: Phase.allCases.filter { r.phases[$0.rawValue].totalCount > 0 }.map {
                            ($0.metric.rawValue, EncodedHistogram(r.phases[$0.rawValue]))
                        }
                    ),
                    errors: Dictionary(
                        uniqueKeysWithValues: ErrorClass.allCases.filter { r.errors[$0.rawValue] > 0 }.map {
                            ($0.name, r.errors[$0.rawValue])
                        }
                    ),
                    checksPassed: r.checksPassed,
                    checksFailed: r.checksFailed,
                    bytesIn: r.bytesIn,
                    bytesOut: r.bytesOut
                )
            }
        }

        /// The stair's metrics back (histograms decoded, counters read); nil when its requests are not `names`.
        public func metrics(names: [String]) -> RunMetrics? {
            guard requests.map(\.name) == names else { return nil }
            var m = RunMetrics(checkCounts: requests.map(\.checksPassed.count))
            for (i, r) in requests.enumerated() {
                for (status, pair) in r.histograms {
                    m.requests[i].byStatus[Int(status) ?? 0] = LatencyPair(
                        corrected: pair.corrected.decode(),
                        uncorrected: pair.uncorrected.decode()
                    )
                }
                for phase in Phase.allCases {
                    if let h = r.phases[phase.metric.rawValue] { m.requests[i].phases[phase.rawValue] = h.decode() }
                }
                for e in ErrorClass.allCases { m.requests[i].errors[e.rawValue] = r.errors[e.name] ?? 0 }
                guard r.checksFailed.count == r.checksPassed.count else { return nil }
                m.requests[i].checksPassed = r.checksPassed
                m.requests[i].checksFailed = r.checksFailed
                m.requests[i].bytesIn = r.bytesIn
                m.requests[i].bytesOut = r.bytesOut
            }
            m.iterations = iterations
            m.droppedIterations = dropped
            return m
        }
    }
}
