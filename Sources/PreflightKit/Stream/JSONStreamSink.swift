import Foundation
import NIOConcurrencyHelpers
import PreflightCore

/// `--stream json=FILE`: every bucket as JSON lines while the run goes, in k6's `-o json` shape — a `Metric` line
/// the first time a metric appears, then a `Point` line per sample (`data.time`, `data.value`, `data.tags`) — and
/// line types of Preflight's own: `Run` when a scenario starts, `Bucket` with the whole bucket (the dashboard's
/// data), `Thresholds` as they stand (about once a second), `Milestone` (a drill's timeline as it happens, a
/// capacity search's steps), and `End` with the verdict and the report folder. Counters' points are the bucket's
/// increments, trends' points their percentiles (tag `stat`). The file is appended to, one line written at a time.
public actor JSONStreamSink: LiveSink {
    public nonisolated let label: String
    private let path: String
    private var handle: FileHandle?
    private var declared: Set<String> = []
    private var run: LiveRun?
    private var problem: String? {
        didSet { problemBox.withLockedValue { [problem] in $0 = problem } }
    }
    private nonisolated let problemBox = NIOLockedValueBox<String?>(nil)
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// Opens (creates or appends to) `path`; throws a message naming the file when it cannot be written.
    public init(path: String) throws(StreamOption.Problem) {
        self.path = path
        label = "json stream to \(path)"
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) && !fm.createFile(atPath: path, contents: nil) {
            throw StreamOption.Problem(
                description: "--stream json=\(path): cannot create the file; choose a writable path"
            )
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw StreamOption.Problem(description: "--stream json=\(path): cannot open the file for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    struct Line<D: Encodable>: Encodable {
        var type: String
        var metric: String?
        var scenario: String?
        var data: D
    }

    struct MetricData: Encodable {
        var name: String
        var type: String
        var contains: String
    }

    struct PointData: Encodable {
        var time: String
        var value: Double
        var tags: [String: String]
    }

    public func handle(_ event: LiveEvent) async {
        switch event {
        case .started(let run):
            self.run = run
            write(Line(type: "Run", data: run))
        case .bucket(let bucket):
            write(Line(type: "Bucket", scenario: run?.scenario, data: bucket))
            for sample in bucket.samples(tags: run?.tags ?? []) {
                if declared.insert(sample.metric).inserted {
                    let contains = sample.metric == "http_req_duration" ? "time" : "default"
                    write(
                        Line(
                            type: "Metric",
                            metric: sample.metric,
                            data: MetricData(name: sample.metric, type: sample.kind.rawValue, contains: contains)
                        )
                    )
                }
                let tags = Dictionary(sample.tags.map { ($0.name, $0.value) }, uniquingKeysWith: { _, b in b })
                write(
                    Line(
                        type: "Point",
                        metric: sample.metric,
                        data: PointData(time: Self.rfc3339(sample.time), value: sample.value, tags: tags)
                    )
                )
            }
        case .standing(let thresholds):
            write(Line(type: "Thresholds", scenario: run?.scenario, data: thresholds))
        case .milestone(let milestone):
            write(Line(type: "Milestone", scenario: run?.scenario, data: milestone))
        case .finished(let end):
            write(Line(type: "End", data: end))
        }
    }

    public func close() async {
        try? handle?.close()
        handle = nil
    }

    public nonisolated func warnings() -> [String] { problemBox.withLockedValue { $0.map { [$0] } ?? [] } }

    private func write(_ line: some Encodable) {
        guard let handle, problem == nil else { return }
        do {
            var data = try encoder.encode(line)
            data.append(0x0A)
            try handle.write(contentsOf: data)
        } catch {
            problem = "\(label): writing failed (\(error.localizedDescription)); the rest of the stream is lost"
        }
    }

    /// `2026-12-06T10:48:45.123Z`: k6's point time (RFC 3339, milliseconds, UTC).
    static func rfc3339(_ seconds: Double) -> String {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = Int(((seconds - seconds.rounded(.down)) * 1000).rounded(.down))
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            ms
        )
    }
}
