import Foundation
import PreflightCore

/// Entry points for the fuzzers in `Fuzz/` and for `swift test`'s replay of their corpus: each takes arbitrary
/// bytes, must never trap, and returns the invariants the input broke (empty when all held).
///
/// Beyond "no crash", they check what a user relies on: a refused file always says why, no message carries a raw
/// control character, and a threshold that parsed reads back the same from its own canonical text.
public enum FuzzTargets {
    /// The scenario loader, and the drill loader, on `data` as a file's bytes (no variables, no environment; data
    /// files resolve under a folder that does not exist).
    public static func scenarioLoader(_ data: Data) -> [String] {
        var broken: [String] = []
        let base = URL(fileURLWithPath: "/nonexistent-preflight-fuzz")
        do {
            let s = try ScenarioLoader(environment: [:]).load(data: data, file: "fuzz.json", baseDirectory: base)
            // Accepted: the engine's arithmetic must hold for it too.
            for shards in [1, 2] { broken += drive(s.load.executor, shard: shards - 1, shards: shards, events: 100) }
            _ = s.load.issuingSeconds
            _ = Report.executorInfo(s.load)
        } catch {
            broken += check(error)
        }
        do {
            _ = try DrillLoader(environment: ["PATH": "/nonexistent-preflight-fuzz"])
                .load(data: data, file: "fuzz.json", baseDirectory: base)
        } catch {
            broken += check(error)
        }
        return broken
    }

    /// The threshold grammar on `data`: the metric key up to the first newline, the expression after it.
    public static func thresholdParser(_ data: Data) -> [String] {
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let key = String(parts[0])
        let expression = parts.count > 1 ? String(parts[1]) : ""
        switch ThresholdSpec.parse(metric: key, expression: expression, requestNames: ["a", "b"]) {
        case .failure(let reason):
            return reason.message.isEmpty ? ["a refused threshold gave no reason"] : []
        case .success(let spec):
            var broken: [String] = []
            if !spec.bound.isFinite { broken.append("bound \(spec.bound) is not finite") }
            let canonical = "\(spec.aggregation)\(spec.op.rawValue)\(spec.bound)"
            switch ThresholdSpec.parse(metric: key, expression: canonical, requestNames: ["a", "b"]) {
            case .success(let again):
                if again.aggregation != spec.aggregation || again.op != spec.op || again.bound != spec.bound {
                    broken.append("\(expression) reads back from \(canonical) as something else")
                }
            case .failure(let r):
                broken.append("\(expression) parsed, but its canonical form \(canonical) does not: \(r.message)")
            }
            return broken
        }
    }

    static func check(_ error: ScenarioError) -> [String] {
        var broken: [String] = []
        if error.problems.isEmpty { broken.append("a refused file gave no problem") }
        let text = error.description
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) {
            broken.append("a message holds a raw control character")
        }
        return broken
    }

    /// Drives the executor's state machine for a bounded number of events, in the order they were asked for
    /// (responses 1 ms after their send, timers and ticks at their time, the clock never going back), then stops
    /// and abandons at the far end of the run. Linear in the VUs, so 100,000 of them take no time.
    /// Returns the broken invariants (an intended time before the start, a negative count in flight).
    static func drive(_ executor: LoadSettings.Executor, shard: Int, shards: Int, events: Int = 300) -> [String] {
        var broken: [String] = []
        var machine = ExecutorStateMachine(
            executor: executor,
            shard: shard,
            shards: shards,
            iterationLimit: nil,
            seed: 1
        )
        enum Event {
            case response(Int)
            case timer(Int)
            case tick
        }
        var pending: [(at: RunTime, event: Event)] = []
        var next = 0
        var now: RunTime = 0
        var actions: [LoadAction] = []
        func apply() {
            for action in actions {
                switch action {
                case .send(let vu, _, let intended):
                    if intended < 0 { broken.append("an arrival intended before the start") }
                    pending.append((now &+ 1_000_000, .response(vu)))
                case .schedule(let vu, let at): pending.append((at, .timer(vu)))
                case .scheduleTick(let at): pending.append((at, .tick))
                case .cancelTimer, .dataExhausted, .finish: break
                }
            }
            actions.removeAll(keepingCapacity: true)
        }
        machine.start(now: 0, into: &actions)
        apply()
        var handled = 0
        while next < pending.count, handled < events {
            let (at, event) = pending[next]
            next += 1
            handled += 1
            now = max(now, at)
            switch event {
            case .response(let vu): machine.responded(vu: vu, now: now, into: &actions)
            case .timer(let vu): machine.timerFired(vu: vu, now: now, into: &actions)
            case .tick: machine.tick(now: now, into: &actions)
            }
            apply()
        }
        now = max(now, RunTime.max / 2)
        machine.stop(now: now, into: &actions)
        apply()
        machine.abandon(into: &actions)
        apply()
        if machine.inFlight < 0 { broken.append("a negative count in flight") }
        return broken
    }
}
