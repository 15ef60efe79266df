import Foundation
import NIOConcurrencyHelpers
import PreflightCore

/// One canary write as the client saw it: a line of `canary.log`.
public struct CanaryEntry: Sendable, Codable, Equatable {
    public var seq: Int
    /// Seconds since the drill started, when the write was sent and when its answer (or error) arrived.
    public var sent: Double
    public var answered: Double
    /// The HTTP status; 0 when no response arrived.
    public var status: Int
    /// The transport error class (`connect`, `timeout`, `reset`, …) when there was one.
    public var error: String?

    public var acknowledged: Bool { (200..<300).contains(status) }

    public init(seq: Int, sent: Double, answered: Double, status: Int, error: String? = nil) {
        self.seq = seq
        self.sent = sent
        self.answered = answered
        self.status = status
        self.error = error
    }
}

/// The append-only `canary.log` (JSON lines) in the run folder. Each line is written with one `write(2)` as the
/// answer arrives, so the log survives whatever happens to the harness after it; RPO is computed from it alone.
public final class CanaryLog: Sendable {
    private let handle: NIOLockedValueBox<FileHandle?>
    private let entries = NIOLockedValueBox<[CanaryEntry]>([])

    /// A log written to `url`; nil keeps the entries in memory only (tests).
    public init(url: URL?) throws {
        if let url {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            handle = NIOLockedValueBox(try FileHandle(forWritingTo: url))
        } else {
            handle = NIOLockedValueBox(nil)
        }
    }

    public func append(_ entry: CanaryEntry) {
        entries.withLockedValue { $0.append(entry) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var line = try? encoder.encode(entry) else { return }
        line.append(UInt8(ascii: "\n"))
        handle.withLockedValue { try? $0?.write(contentsOf: line) }
    }

    public var all: [CanaryEntry] { entries.withLockedValue { $0 } }

    public func close() { handle.withLockedValue { try? $0?.close() } }

    /// Reads a `canary.log` back (a line that does not parse is skipped: the log may end mid-line after a crash).
    public static func read(_ url: URL) -> [CanaryEntry] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            try? JSONDecoder().decode(CanaryEntry.self, from: Data($0))
        }
    }
}

/// What the canary series says about data loss, from the client's log and the series read back after recovery.
public struct CanarySummary: Sendable, Codable, Equatable {
    public var written: Int
    public var acknowledged: Int
    /// Items in the read-back answer.
    public var readBack: Int
    /// Acknowledged seqs missing from the read-back.
    public var lostWrites: Int
    /// The first lost seqs (at most 20), for the report.
    public var lostSeqs: [Int]
    /// The longest stretch of acknowledged writes lost: from the last surviving acknowledged write before a lost
    /// one to that lost one's acknowledgement; 0 when none is lost.
    public var rpoSeconds: Double
    /// Seqs that appear more than once in the read-back.
    public var duplicates: Int
    /// Stored although the client never saw them acknowledged (an answer lost on the way back): not a loss.
    public var presentUnacknowledged: Int
    /// Read-back items whose seq is below the one before them.
    public var outOfOrder: Int
    /// The last write acknowledged before the fault, and whether it survived.
    public var lastAcknowledgedBeforeFault: Int?

    /// Compares the client's log with the read-back series. `faultAt` is the fault action's start (drill seconds).
    public static func analyze(log: [CanaryEntry], readBack: [Int], faultAt: Double?) -> CanarySummary {
        let acked = log.filter(\.acknowledged).sorted { $0.answered < $1.answered }
        let stored = Set(readBack)
        let ackedSeqs = Set(acked.map(\.seq))
        var lost: [CanaryEntry] = []
        var rpo = 0.0
        var lastSurvivor: CanaryEntry?
        for entry in acked {
            if stored.contains(entry.seq) {
                lastSurvivor = entry
            } else {
                lost.append(entry)
                let since = lastSurvivor?.answered ?? (log.map(\.sent).min() ?? entry.answered)
                rpo = max(rpo, entry.answered - since)
            }
        }
        var counts: [Int: Int] = [:]
        for seq in readBack { counts[seq, default: 0] += 1 }
        let outOfOrder = zip(readBack, readBack.dropFirst()).filter { $0 > $1 }.count
        let beforeFault = faultAt.flatMap { f in acked.last { $0.answered <= f } }
        return CanarySummary(
            written: log.count,
            acknowledged: acked.count,
            readBack: readBack.count,
            lostWrites: lost.count,
            lostSeqs: Array(lost.map(\.seq).sorted().prefix(20)),
            rpoSeconds: rpo,
            duplicates: counts.values.filter { $0 > 1 }.count,
            presentUnacknowledged: stored.subtracting(ackedSeqs).intersection(Set(log.map(\.seq))).count,
            outOfOrder: outOfOrder,
            lastAcknowledgedBeforeFault: beforeFault?.seq
        )
    }
}
