import CSnappy
import Foundation
import NIOConcurrencyHelpers
import PreflightCore
import SwiftProtobuf

/// `--stream prometheus-rw=URL`: every bucket as Prometheus remote-write 1.0 samples (protobuf, snappy block
/// compression, `X-Prometheus-Remote-Write-Version: 0.1.0`), named as k6's Prometheus output names its own with
/// `preflight_` for `k6_`: counters `preflight_http_reqs_total` (running totals), rates
/// `preflight_http_req_failed_rate`, gauges `preflight_vus`, trends one series per statistic in seconds
/// (`preflight_http_req_duration_p95`, label `corrected`). Labels: `scenario`, `run_id`, `segment` for a shard, and
/// the sample's own (`name`, `status`). A drill's milestones and a capacity search's steps are samples of
/// `preflight_milestone` (label `milestone`; the value is seconds since the run started).
///
/// A Prometheus that is down or slow never slows the load: the feed queues buckets for this sink alone, each send
/// has `timeout`, a failed one is retried `attempts - 1` times with doubling backoff (jittered, seeded), and a batch
/// that still fails is dropped and counted; counters are running totals, so the next batch that lands carries
/// them. The warning (in the report) says how many samples were dropped and why.
public actor RemoteWriteSink: LiveSink {
    /// Limits of one sink, defaults as documented in the README.
    public struct Configuration: Sendable {
        /// Samples in one request at most (Prometheus' own `max_samples_per_send` default).
        public var maxSamplesPerSend = 2000
        /// Tries per batch: the first send and the retries.
        public var attempts = 3
        /// Seconds before the first retry; doubled for each next one, ±25 % jitter.
        public var backoff = 0.25
        /// Seconds one send may take, connecting included.
        public var timeout = 5.0
        /// Seeds the retries' jitter.
        public var seed: UInt64 = 1

        public init() {}
    }

    public nonisolated let label: String
    let client: OneShotHTTP
    let path: String
    let configuration: Configuration
    private var run: LiveRun?
    /// Running totals of the counters, by series.
    private var totals: [[String]: Double] = [:]
    private var random: SplitMix64
    private let report = NIOLockedValueBox(Report())

    struct Report {
        var samplesSent = 0
        var samplesDropped = 0
        var failedBatches = 0
        var lastError: String?
    }

    /// A sink to `url` (http or https); a URL that cannot be used is a problem naming the option.
    public init(url: String, configuration: Configuration = Configuration()) throws(StreamOption.Problem) {
        guard case .success(let target) = TargetURL.parse(url) else {
            throw StreamOption.Problem(
                description: "--stream prometheus-rw=\(url): not a URL; write it as http://host:9090/api/v1/write"
            )
        }
        path = target.basePath.isEmpty ? "/api/v1/write" : target.basePath
        var http = HTTPSettings()
        http.connectTimeout = configuration.timeout
        http.timeout = configuration.timeout
        http.maxBodyBytes = 64 * 1024
        do {
            client = try TransportFactory(
                target: TargetURL(scheme: target.scheme, host: target.host, port: target.port, basePath: ""),
                http: http
            ).oneShot(connectTimeout: configuration.timeout)
        } catch {
            throw StreamOption.Problem(description: "--stream prometheus-rw=\(url): \(error)")
        }
        self.configuration = configuration
        random = SplitMix64(seed: configuration.seed)
        label = "prometheus-rw to \(target.description)"
    }

    public func handle(_ event: LiveEvent) async {
        switch event {
        case .started(let run): self.run = run
        case .bucket(let bucket):
            let series = self.series(bucket)
            var start = 0
            while start < series.count {
                let batch = Array(series[start..<min(series.count, start + configuration.maxSamplesPerSend)])
                await send(batch)
                start += configuration.maxSamplesPerSend
            }
        case .milestone(let milestone): await send([series(milestone)])
        case .standing, .finished: break
        }
    }

    public func close() async {}

    public nonisolated func warnings() -> [String] {
        let r = report.withLockedValue { $0 }
        guard r.samplesDropped > 0 else { return [] }
        return [
            "\(label): \(r.samplesDropped) samples dropped (\(r.failedBatches) sends failed after "
                + "\(configuration.attempts) tries; last: \(r.lastError ?? "?")); \(r.samplesSent) samples were sent"
        ]
    }

    /// Samples sent and dropped so far.
    public nonisolated func counts() -> (sent: Int, dropped: Int) {
        report.withLockedValue { ($0.samplesSent, $0.samplesDropped) }
    }

    /// The bucket's samples as remote-write series: one sample each, labels sorted, counters as running totals.
    func series(_ bucket: LiveBucket) -> [Prometheus_TimeSeries] {
        let timestamp = Int64((bucket.time * 1000).rounded())
        return bucket.samples(tags: run?.tags ?? []).map { sample in
            var name = "preflight_" + sample.metric
            var value = sample.value
            var labels = sample.tags
            switch sample.kind {
            case .counter:
                name += "_total"
                let key = [name] + labels.flatMap { [$0.name, $0.value] }
                totals[key, default: 0] += value
                value = totals[key]!
            case .rate: name += "_rate"
            case .gauge: break
            case .trend:
                let stat = labels.first { $0.name == "stat" }?.value ?? "value"
                labels.removeAll { $0.name == "stat" }
                name += "_" + stat.filter { $0.isLetter || $0.isNumber }
                value /= 1000  // ms → s, Prometheus' unit
            }
            var series = Prometheus_TimeSeries()
            series.labels = ([("__name__", name)] + labels).sorted { $0.0 < $1.0 }.map { l in
                var label = Prometheus_Label()
                (label.name, label.value) = (l.0, l.1)
                return label
            }
            var s = Prometheus_Sample()
            (s.value, s.timestamp) = (value, timestamp)
            series.samples = [s]
            return series
        }
    }

    /// A milestone as one sample of `preflight_milestone` (label `milestone`, and `step` for a capacity step) whose
    /// value is its seconds since the run started, at the moment it happened.
    func series(_ milestone: LiveMilestone) -> Prometheus_TimeSeries {
        let labels =
            [("__name__", "preflight_milestone"), ("milestone", milestone.name)]
            + (run?.tags ?? []).map { ($0.name, $0.value) } + (milestone.detail.map { [("step", $0)] } ?? [])
        var series = Prometheus_TimeSeries()
        series.labels = labels.sorted { $0.0 < $1.0 }.map { l in
            var label = Prometheus_Label()
            (label.name, label.value) = (l.0, l.1)
            return label
        }
        var s = Prometheus_Sample()
        (s.value, s.timestamp) = (milestone.t, Int64((milestone.time * 1000).rounded()))
        series.samples = [s]
        return series
    }

    /// Sends one batch, retrying; a batch that cannot be sent is dropped and counted.
    private func send(_ batch: [Prometheus_TimeSeries]) async {
        var request = Prometheus_WriteRequest()
        request.timeseries = batch
        guard let body = try? Self.snappy(request.serializedBytes()) else {
            drop(batch.count, because: "could not encode the batch")
            return
        }
        var delay = configuration.backoff
        var lastError = ""
        for attempt in 1...configuration.attempts {
            let message = RequestMessage(
                method: "POST",
                path: path,
                headers: [
                    ("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                    ("User-Agent", "preflight/\(PreflightInfo.version)"),
                ],
                body: body
            )
            let outcome = await client.send(
                PreparedRequest(
                    requestIndex: 0,
                    iteration: 0,
                    vu: 0,
                    message: message,
                    wantsBody: true,
                    timeout: configuration.timeout,
                    closesConnection: true
                )
            )
            if outcome.error == nil, (200..<300).contains(outcome.status) {
                report.withLockedValue { $0.samplesSent += batch.count }
                return
            }
            lastError =
                outcome.error.map { "\($0)" }
                ?? "HTTP \(outcome.status) \(String(decoding: (outcome.body ?? []).prefix(200), as: UTF8.self))"
            // A 4xx other than 429 will not get better by sending it again (remote write 1.0, "Retries & Backoff").
            if outcome.error == nil, (400..<500).contains(outcome.status), outcome.status != 429 { break }
            guard attempt < configuration.attempts else { break }
            let jitter = 0.75 + 0.5 * Double(random.next() % 1_000_000) / 1_000_000
            try? await Task.sleep(for: .seconds(delay * jitter))
            delay *= 2
        }
        drop(batch.count, because: lastError)
    }

    private func drop(_ n: Int, because reason: String) {
        report.withLockedValue {
            $0.samplesDropped += n
            $0.failedBatches += 1
            $0.lastError = reason
        }
    }

    /// `bytes` in snappy's block format (what remote write sends), by the system's libsnappy.
    static func snappy(_ bytes: [UInt8]) throws -> [UInt8] {
        guard !bytes.isEmpty else { return [0] }  // the length, 0, and nothing after it
        var out = [UInt8](repeating: 0, count: snappy_max_compressed_length(bytes.count))
        var length = out.count
        let status = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                input.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(1, input.count)) { i in
                    output.baseAddress!.withMemoryRebound(to: CChar.self, capacity: output.count) { o in
                        snappy_compress(i, input.count, o, &length)
                    }
                }
            }
        }
        guard status == SNAPPY_OK else { throw StreamOption.Problem(description: "snappy could not compress") }
        return Array(out[..<length])
    }
}
