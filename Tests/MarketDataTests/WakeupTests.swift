import Testing

@testable import MarketData

/// The scheduler's doorbell (#26, item 2): `POST backfill` wakes the periodic loop instead of a 200 ms poll.
@Suite struct WakeupTests {
    @Test func aRingBeforeTheWaitIsKeptAndConsumedOnce() async {
        let bell = Wakeup()
        bell.ring()
        #expect(await bell.wait(until: .now + .seconds(60)))
        #expect(await bell.wait(until: .now + .milliseconds(10)) == false, "one ring, one wake-up")
    }

    @Test func aRingWakesTheWaiterLongBeforeItsDeadline() async {
        let bell = Wakeup()
        let started = ContinuousClock.now
        async let woken = bell.wait(until: .now + .seconds(600))
        // Whether the ring lands before or while it waits, the wait ends with it (a ring before a wait is kept).
        bell.ring()
        #expect(await woken)
        #expect(ContinuousClock.now - started < .seconds(600))
    }

    @Test func theDeadlineEndsAWaitNobodyRang() async {
        #expect(await Wakeup().wait(until: .now + .milliseconds(20)) == false)
    }

    @Test func cancellationEndsTheWait() async {
        let bell = Wakeup()
        let waiter = Task { await bell.wait(until: .now + .seconds(600)) }
        waiter.cancel()
        #expect(await waiter.value == false)
    }
}
