import Histogram

/// Latency histograms in microseconds with 3 significant digits; they grow to the largest value seen.
public typealias LatencyHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    /// An empty latency histogram (µs, 3 significant digits, auto-resizing).
    public static func latency() -> Histogram<UInt64> { Histogram<UInt64>(numberOfSignificantValueDigits: .three) }
}

/// Latency from the intended start (corrected for coordinated omission) and from the actual send.
public struct LatencyPair: Sendable {
    public var corrected = LatencyHistogram.latency()
    public var uncorrected = LatencyHistogram.latency()

    public init(corrected: LatencyHistogram = .latency(), uncorrected: LatencyHistogram = .latency()) {
        self.corrected = corrected
        self.uncorrected = uncorrected
    }

    public mutating func add(_ other: LatencyPair) {
        corrected.add(other.corrected)
        uncorrected.add(other.uncorrected)
    }
}

/// Everything recorded for one request name. Memory depends on the statuses seen, never on the request count.
public struct RequestMetrics: Sendable {
    /// Latency by status code; status 0 holds exchanges that got no response (transport errors).
    public var byStatus: [Int: LatencyPair] = [:]
    /// Counts by error class, indexed by `ErrorClass.rawValue`.
    public var errors = [Int](repeating: 0, count: ErrorClass.allCases.count)
    public var checksPassed: [Int]
    public var checksFailed: [Int]
    public var bytesIn = 0
    public var bytesOut = 0
    public var truncatedBodies = 0
    /// Redirects followed (each request is recorded once, under its name, with its final status).
    public var redirects = 0
    /// Exchanges that went over HTTP/2.
    public var http2 = 0
    /// Requests a GOAWAY refused on one connection and that were sent again on another.
    public var goAwayRetries = 0
    /// Timing phases (µs) of the exchanges that got an answer, indexed by `Phase`.
    public var phases = [LatencyHistogram](repeating: .latency(), count: Phase.allCases.count)

    public init(checkCount: Int) {
        checksPassed = [Int](repeating: 0, count: checkCount)
        checksFailed = [Int](repeating: 0, count: checkCount)
    }

    public var count: Int { byStatus.values.reduce(0) { $0 + Int($1.corrected.totalCount) } }

    /// Requests that k6 would count in `http_req_failed`: no response, or a status outside 200–399.
    public func failedCount(status: Int? = nil) -> Int {
        byStatus.reduce(0) { sum, entry in
            guard status == nil || entry.key == status else { return sum }
            return sum + (RequestMetrics.isFailure(status: entry.key) ? Int(entry.value.corrected.totalCount) : 0)
        }
    }

    package static func isFailure(status: Int) -> Bool { status == 0 || status >= 400 }

    /// All statuses merged, optionally only one.
    public func latency(status: Int? = nil) -> LatencyPair {
        var pair = LatencyPair()
        for (s, p) in byStatus where status == nil || s == status { pair.add(p) }
        return pair
    }

    public mutating func add(_ other: RequestMetrics) {
        for (s, p) in other.byStatus { byStatus[s, default: LatencyPair()].add(p) }
        for i in errors.indices { errors[i] += other.errors[i] }
        for i in checksPassed.indices {
            checksPassed[i] += other.checksPassed[i]
            checksFailed[i] += other.checksFailed[i]
        }
        bytesIn += other.bytesIn
        bytesOut += other.bytesOut
        truncatedBodies += other.truncatedBodies
        redirects += other.redirects
        for i in phases.indices { phases[i].add(other.phases[i]) }
        http2 += other.http2
        goAwayRetries += other.goAwayRetries
    }

    /// The protocol its requests went over: `HTTP/1.1`, `HTTP/2`, or both with the HTTP/2 share.
    public var protocolName: String {
        let total = count
        if http2 == 0 { return "HTTP/1.1" }
        if http2 >= total { return "HTTP/2" }
        return "HTTP/2 (\(http2) of \(total)), HTTP/1.1"
    }

    /// Records an answered exchange's phases.
    package mutating func record(_ times: PhaseTimes) {
        for phase in Phase.allCases {
            phases[phase.rawValue].record(UInt64(max(0, times[phase] / 1000)))
        }
    }
}

/// What happened during one time bucket.
public struct IntervalStats: Sendable {
    public var requests = 0
    public var errors = 0
    public var latency = LatencyHistogram.latency()
    /// The most VUs busy at once during the bucket.
    public var activeVUs = 0
    /// By request (the plan's index): kept only while something watches the run live (`--stream`, `--dashboard`),
    /// so a run without them pays nothing for it.
    public var byRequest: [Int: RequestInterval] = [:]

    public init(
        requests: Int = 0,
        errors: Int = 0,
        latency: LatencyHistogram = .latency(),
        activeVUs: Int = 0
    ) {
        self.requests = requests
        self.errors = errors
        self.latency = latency
        self.activeVUs = activeVUs
    }

    public mutating func add(_ other: IntervalStats) {
        requests += other.requests
        errors += other.errors
        latency.add(other.latency)
        activeVUs += other.activeVUs
        for (r, detail) in other.byRequest { byRequest[r, default: RequestInterval()].add(detail) }
    }
}

/// One request's share of a time bucket, for the live stream: counts by status, latency both ways, checks.
public struct RequestInterval: Sendable {
    /// Answers by status; 0 holds exchanges that got no response.
    public var byStatus: [Int: Int] = [:]
    /// Latency from the intended start and from the send (µs).
    public var latency = LatencyPair()
    public var checksPassed = 0
    public var checksFailed = 0

    public init() {}

    public var count: Int { byStatus.values.reduce(0, +) }

    /// As `http_req_failed` counts them: no response, or a status outside 200–399.
    public var failed: Int {
        byStatus.reduce(0) { $0 + (RequestMetrics.isFailure(status: $1.key) ? $1.value : 0) }
    }

    public mutating func add(_ other: RequestInterval) {
        byStatus.merge(other.byStatus, uniquingKeysWith: +)
        latency.corrected.add(other.latency.corrected)
        latency.uncorrected.add(other.latency.uncorrected)
        checksPassed += other.checksPassed
        checksFailed += other.checksFailed
    }
}

/// The metrics of one shard (or, merged, of the run).
public struct RunMetrics: Sendable {
    public var requests: [RequestMetrics]
    public var iterations = 0
    public var droppedIterations = 0
    /// Arrivals that waited in the backlog for a free VU (open models).
    public var backloggedIterations = 0
    /// Iterations still in flight when `gracefulStop` ran out: sent, never recorded.
    public var abandonedIterations = 0
    /// VUs that existed at most (`vus_max`).
    public var vusMax = 0
    /// The most VUs busy at once (the maximum of the `vus` gauge).
    public var vusPeak = 0
    /// Whole iterations of a flow, from the intended start (open models) or the first send to the last answer, µs.
    public var iterationDuration = LatencyHistogram.latency()
    /// Flow iterations that a failed step stopped (`onFailure: stop`).
    public var flowsStopped = 0

    public init(checkCounts: [Int]) {
        requests = checkCounts.map { RequestMetrics(checkCount: $0) }
    }

    public mutating func add(_ other: RunMetrics) {
        for i in requests.indices { requests[i].add(other.requests[i]) }
        iterations += other.iterations
        droppedIterations += other.droppedIterations
        backloggedIterations += other.backloggedIterations
        abandonedIterations += other.abandonedIterations
        vusMax += other.vusMax
        vusPeak += other.vusPeak
        iterationDuration.add(other.iterationDuration)
        flowsStopped += other.flowsStopped
    }

    public var totalRequests: Int { requests.reduce(0) { $0 + $1.count } }
}
