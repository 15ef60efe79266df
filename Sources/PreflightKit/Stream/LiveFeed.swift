import Foundation
import NIOConcurrencyHelpers
import PreflightCore

/// What a run sends while it goes, to `--stream` outputs and the `--dashboard`.
public enum LiveEvent: Sendable {
    /// A scenario's run started.
    case started(LiveRun)
    /// A time bucket completed.
    case bucket(LiveBucket)
    /// The thresholds as they stand on the run so far (about once a second).
    case standing([LiveThreshold])
    /// Something happened at a moment: a drill's milestone (`fault-start`, `recovered`, …), a capacity search's step.
    case milestone(LiveMilestone)
    /// The run ended and its report was written.
    case finished(LiveEnd)
}

/// A run as the live outputs label it.
public struct LiveRun: Sendable, Codable, Equatable {
    public var scenario: String
    /// The report's `run.id`.
    public var runID: String
    /// `I/N` for a shard of a distributed run.
    public var segment: String?
    public var target: String
    /// `real` or `mock`.
    public var mode: String
    /// `run`, `drill` or `capacity-search`.
    public var kind: String
    /// When the run started, seconds since 1970: every bucket's and milestone's `time` is placed from here (a
    /// drill's background load and each capacity step start later than the run).
    public var startTime: Double
    /// Seconds the run is planned to take; 0 when unknown ahead (a drill).
    public var plannedSeconds: Double
    public var bucketSeconds: Double
    /// The thresholds as written (`metric: expression`).
    public var thresholds: [String]

    /// The tags every sample of the run carries: scenario, run id, and segment for a shard.
    public var tags: [(name: String, value: String)] {
        [("scenario", scenario), ("run_id", runID)] + (segment.map { [("segment", $0)] } ?? [])
    }
}

/// A moment of a run: a drill's milestone, as report.json's `drill.timeline` names it, or a capacity search's step.
public struct LiveMilestone: Sendable, Codable, Equatable {
    /// `steady-state`, `fault-start`, `fault`, `detection`, `verified`, `first-success`, `recovered`,
    /// `recovery-timeout`, `end` (a drill); `capacity-step` (a capacity search).
    public var name: String
    /// Seconds since the run started: when it happened. It is sent when the run learns it, which may be later
    /// (`detection` is a failed probe's send time, learned when its answer comes back, maybe after `fault`).
    public var t: Double
    /// Seconds since 1970.
    public var time: Double
    /// What a step is (`hold at 400 per 1 s`); nil for a drill's milestone.
    public var detail: String?

    public init(name: String, t: Double, time: Double, detail: String? = nil) {
        self.name = name
        self.t = t
        self.time = time
        self.detail = detail
    }
}

/// How a run ended, for the live outputs.
public struct LiveEnd: Sendable, Codable, Equatable {
    public var scenario: String
    public var runID: String
    /// `pass`, `fail` or `error`.
    public var verdict: String
    public var reason: String
    /// The thresholds as judged on the whole run.
    public var thresholds: [LiveThreshold]
    /// The report folder.
    public var report: String?
}

/// A threshold and how it stands.
public struct LiveThreshold: Sendable, Codable, Equatable {
    /// `metric: expression`.
    public var name: String
    public var ok: Bool
    /// Null while the metric has no data.
    public var observed: Double?
}

/// Something that takes a run's live events: a JSON-lines file, a remote-write endpoint, the dashboard.
public protocol LiveSink: Sendable {
    /// What the messages call it (`json stream to run.jsonl`).
    var label: String { get }
    /// Takes one event; may wait (a slow endpoint), which only fills this sink's own queue.
    func handle(_ event: LiveEvent) async
    /// After the last event: sends or writes what is held.
    func close() async
    /// What went wrong so far (samples dropped, a file that could not be written), for the report.
    func warnings() -> [String]
}

/// Fans a run's events out to its sinks without ever making the run wait: each sink reads its own queue of at
/// most `queueLimit` events, and an event a full queue cannot take is dropped and counted.
public final class LiveFeed: Sendable {
    /// Events a sink may fall behind by (at 1 s buckets, over an hour) before new ones are dropped.
    public static let queueLimit = 4096

    struct Queue: Sendable {
        var sink: any LiveSink
        var continuation: AsyncStream<LiveEvent>.Continuation
        var stream: AsyncStream<LiveEvent>
    }

    let queues: [Queue]
    /// Per queue: events sent, handled, dropped.
    private let counts: NIOLockedValueBox<[(sent: Int, handled: Int, dropped: Int)]>

    init(sinks: [any LiveSink]) {
        queues = sinks.map { sink in
            let (stream, continuation) = AsyncStream.makeStream(
                of: LiveEvent.self,
                bufferingPolicy: .bufferingOldest(Self.queueLimit)
            )
            return Queue(sink: sink, continuation: continuation, stream: stream)
        }
        counts = NIOLockedValueBox(Array(repeating: (0, 0, 0), count: sinks.count))
    }

    /// Queues `event` for every sink; never waits.
    public func send(_ event: LiveEvent) {
        for (i, q) in queues.enumerated() {
            let taken: Bool
            switch q.continuation.yield(event) {
            case .enqueued: taken = true
            case .dropped, .terminated: taken = false
            @unknown default: taken = false
            }
            counts.withLockedValue {
                if taken { $0[i].sent += 1 } else { $0[i].dropped += 1 }
            }
        }
    }

    /// Waits until every sink has handled what it was sent, or `timeout` passed: the report then has their
    /// warnings (a remote write that is still retrying is cut short here).
    public func drain(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if counts.withLockedValue({ $0.allSatisfy { $0.handled >= $0.sent } }) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Every sink's warnings, and the events each dropped for a full queue.
    public func warnings() -> [String] {
        let counts = self.counts.withLockedValue { $0 }
        return zip(queues, counts).flatMap { q, c in
            q.sink.warnings()
                + (c.dropped > 0
                    ? ["\(q.sink.label): \(c.dropped) events dropped (it fell \(Self.queueLimit) events behind)"] : [])
        }
    }

    /// The warnings not returned before: each report of a batch gets those of its own run.
    public func newWarnings() -> [String] {
        let all = warnings()
        return reported.withLockedValue { seen in all.filter { seen.insert($0).inserted } }
    }

    private let reported = NIOLockedValueBox<Set<String>>([])

    fileprivate func handled(_ i: Int) { counts.withLockedValue { $0[i].handled += 1 } }

    fileprivate func finish() { for q in queues { q.continuation.finish() } }

    /// Runs `body` with a feed to `sinks` (nil without sinks: nothing is kept for them). Each sink works in a child
    /// task; after `body` the feed ends and every sink closes before this returns.
    public static func with<R: Sendable>(
        sinks: [any LiveSink],
        _ body: (LiveFeed?) async throws -> R
    ) async throws -> R {
        guard !sinks.isEmpty else { return try await body(nil) }
        let feed = LiveFeed(sinks: sinks)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, q) in feed.queues.enumerated() {
                group.addTask {
                    for await event in q.stream {
                        await q.sink.handle(event)
                        feed.handled(i)
                    }
                    await q.sink.close()
                }
            }
            do {
                let result = try await body(feed)
                feed.finish()
                try await group.waitForAll()
                return result
            } catch {
                feed.finish()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}
