import NIOConcurrencyHelpers

/// A one-slot doorbell: `ring()` wakes the task waiting in `wait(until:)` (or the next one to wait, if none is),
/// so a loop that sleeps until its next deadline can also start early, without polling a flag.
final class Wakeup: Sendable {
    private struct State {
        var rung = false
        var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
        var next = 0
    }
    /// A lock TSan can see (`Synchronization.Mutex` on Linux is a futex it does not model).
    private let state = NIOLockedValueBox(State())

    /// Wakes the waiter now, or the next wait at once.
    func ring() {
        let waiter = state.withLockedValue { s in
            s.rung = true
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        waiter?.resume()
    }

    /// Waits until rung (consuming the ring), `deadline` passes, or the task is cancelled; whether it was rung.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForRing() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            // The first to end cancels the other; a ring the cancelled waiter had already taken still counts.
            var rung = false
            for await result in group {
                rung = rung || result
                group.cancelAll()
            }
            return rung
        }
    }

    private func waitForRing() async -> Bool {
        let id = state.withLockedValue { s in
            s.next += 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { s -> Bool in
                    if s.rung || Task.isCancelled { return true }
                    s.waiter = (id, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let c = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
                guard s.waiter?.id == id else { return nil }
                defer { s.waiter = nil }
                return s.waiter?.continuation
            }
            c?.resume()
        }
        return state.withLockedValue { s in
            defer { s.rung = false }
            return s.rung
        }
    }
}
