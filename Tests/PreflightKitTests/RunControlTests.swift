import Testing

@testable import PreflightCore
@testable import PreflightKit

/// `RunControl.wait`: the run waits for a stop, an interrupt or a second signal instead of polling its flags
/// (#26, item 2). Counts and order only; the one deadline test allows a busy machine any delay.
@Suite struct RunControlTests {
    @Test func anEventThatAlreadyHappenedReturnsAtOnce() async {
        let control = RunControl()
        control.interrupt()
        #expect(await control.wait(for: .stopping))
        #expect(await control.wait(for: .interrupted))
        #expect(await control.wait(for: .hurried, until: .now) == false)
    }

    @Test func waitersWakeForTheirEventAndTheEventsItImplies() async {
        let control = RunControl()
        await withTaskGroup(of: (RunControl.Event, Bool).self) { group in
            for event in [RunControl.Event.stopping, .interrupted, .hurried] {
                group.addTask { (event, await control.wait(for: event)) }
            }
            // A plain stop wakes only the stop's waiter; the second signal wakes the rest.
            while !control.hasWaiters(3) { await Task.yield() }
            control.stop()
            let first = await group.next()
            #expect(first?.0 == .stopping && first?.1 == true)
            control.hurry()
            var rest: [RunControl.Event] = []
            for await (event, happened) in group {
                #expect(happened)
                rest.append(event)
            }
            #expect(Set(rest) == [.interrupted, .hurried])
        }
    }

    @Test func aDeadlineEndsTheWaitWithoutTheEvent() async {
        let control = RunControl()
        #expect(await control.wait(for: .interrupted, until: .now + .milliseconds(20)) == false)
        #expect(!control.isInterrupted)
    }

    @Test func cancellingTheWaiterEndsTheWait() async {
        let control = RunControl()
        let waiter = Task { await control.wait(for: .hurried) }
        while !control.hasWaiters(1) { await Task.yield() }
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(!control.hasWaiters(1), "the cancelled waiter is gone from the table")
    }
}
