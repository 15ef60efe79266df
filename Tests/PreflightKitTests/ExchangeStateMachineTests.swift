import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import PreflightCore
@testable import PreflightKit

@Suite struct ExchangeStateMachineTests {
    @Test func aResponseCompletesOnceAndKeepsTheConnection() {
        var m = ExchangeStateMachine()
        let r1 = m.send()
        #expect(r1 == .write)
        #expect(!m.isOpen)
        let r2 = m.receivedHead(keepAlive: true)
        #expect(r2)
        #expect(m.isReceivingBody)
        let r3 = m.receivedEnd()
        #expect(r3 == .complete(error: nil, close: false))
        #expect(m.isOpen)
        let r4 = m.receivedEnd()
        #expect(r4 == ExchangeStateMachine.CompletionAction.none, "a stray end completes nothing")
    }

    @Test func connectionCloseClosesBeforeTheCompletionRuns() {
        var m = ExchangeStateMachine()
        _ = m.send()
        _ = m.receivedHead(keepAlive: false)
        let r5 = m.receivedEnd()
        #expect(r5 == .complete(error: nil, close: true))
        #expect(!m.isOpen, "the VU's next request must reconnect")
        let r6 = m.send()
        #expect(r6 == .fail(.reset))
    }

    @Test func onlyTheFirstOfTimeoutErrorAndCloseCompletes() {
        var m = ExchangeStateMachine()
        _ = m.send()
        let r7 = m.timedOut()
        #expect(r7 == .complete(error: .timeout, close: true))
        let r8 = m.failed(.reset)
        #expect(r8 == ExchangeStateMachine.CompletionAction.none)
        let r9 = m.closed()
        #expect(r9 == ExchangeStateMachine.CompletionAction.none)
        let r10 = m.receivedHead(keepAlive: true)
        #expect(r10 == false, "a late response is ignored")
        let r11 = m.receivedEnd()
        #expect(r11 == ExchangeStateMachine.CompletionAction.none)
    }

    @Test func anErrorWithNothingInFlightOnlyCloses() {
        var m = ExchangeStateMachine()
        let r12 = m.failed(.reset)
        #expect(r12 == .close)
        let r13 = m.failed(.reset)
        #expect(r13 == ExchangeStateMachine.CompletionAction.none)
    }

    @Test func thePeerClosingMidResponseIsAReset() {
        var m = ExchangeStateMachine()
        _ = m.send()
        _ = m.receivedHead(keepAlive: true)
        let r14 = m.closed()
        #expect(r14 == .complete(error: .reset, close: false))
        let r15 = m.abandoned()
        #expect(r15 == ExchangeStateMachine.CompletionAction.none)
    }

    @Test func aSecondSendWhileOneIsInFlightFailsInsteadOfReplacingIt() {
        var m = ExchangeStateMachine()
        let r16 = m.send()
        #expect(r16 == .write)
        let r17 = m.send()
        #expect(r17 == .fail(.reset))
        _ = m.receivedHead(keepAlive: true)
        let r18 = m.receivedEnd()
        #expect(r18 == .complete(error: nil, close: false))
    }
}

/// `ClientResponseHandler` on an `EmbeddedChannel`: every request sent gets exactly one completion, whatever the
/// channel does.
@Suite struct ClientResponseHandlerTests {
    final class Completions {
        var outcomes: [HTTPOutcome] = []
    }

    private func request() -> PreparedRequest {
        PreparedRequest(
            requestIndex: 0,
            iteration: 0,
            vu: 0,
            message: RequestMessage(method: "GET", path: "/x"),
            wantsBody: true,
            timeout: 5
        )
    }

    private func connected() throws -> (EmbeddedChannel, ClientResponseHandler) {
        let channel = EmbeddedChannel()
        let handler = ClientResponseHandler(
            target: TargetURL(scheme: "http", host: "h", port: 80, basePath: ""),
            maxBodyBytes: 1024,
            eventLoop: channel.embeddedEventLoop
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, handler)
    }

    @Test func aResponseCompletesOnceWithStatusAndBody() throws {
        let (channel, handler) = try connected()
        let done = Completions()
        handler.send(request()) { done.outcomes.append($0) }
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"))
        #expect(done.outcomes.isEmpty)
        try channel.writeInbound(ByteBuffer(string: "lo"))
        #expect(done.outcomes.count == 1)
        #expect(done.outcomes.first?.status == 200)
        let body = done.outcomes.first?.body
        #expect(body.map { String(decoding: $0, as: UTF8.self) } == "hello")
        #expect(handler.isOpen)
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(done.outcomes.count == 1, "closing afterwards completes nothing more")
    }

    /// The handler used to return without ever calling the completion when it had no channel context: the VU
    /// waited forever (until `gracefulStop` abandoned it, uncounted). Now the send fails, once, on the next turn.
    @Test func aSendOnAClosedConnectionFailsOnceInsteadOfHanging() throws {
        let (channel, handler) = try connected()
        try channel.close().wait()
        let done = Completions()
        handler.send(request()) { done.outcomes.append($0) }
        #expect(done.outcomes.isEmpty, "never before send returns")
        channel.embeddedEventLoop.run()
        #expect(done.outcomes.count == 1)
        #expect(done.outcomes.first?.error == .reset)
    }

    @Test func theChannelClosingMidResponseCompletesOnceAsReset() throws {
        let (channel, handler) = try connected()
        let done = Completions()
        handler.send(request()) { done.outcomes.append($0) }
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
        channel.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        _ = try? channel.finish(acceptAlreadyClosed: true)
        #expect(done.outcomes.count == 1)
        #expect(done.outcomes.first?.error == .reset)
    }

    @Test func thePeerClosingMidBodyIsAResetAndABodyToTheCloseIsComplete() throws {
        let (cut, cutHandler) = try connected()
        let done = Completions()
        cutHandler.send(request()) { done.outcomes.append($0) }
        try cut.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
        cut.pipeline.fireChannelInactive()
        #expect(done.outcomes.map(\.error) == [.reset])

        let (toClose, handler) = try connected()
        let full = Completions()
        handler.send(request()) { full.outcomes.append($0) }
        try toClose.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\nall of it"))
        toClose.pipeline.fireChannelInactive()
        #expect(full.outcomes.count == 1)
        #expect(full.outcomes.first?.error == nil)
        #expect(full.outcomes.first?.body?.count == 9)
    }

    @Test func aMalformedResponseCompletesOnceAsResetAndClosesTheConnection() throws {
        let (channel, handler) = try connected()
        let done = Completions()
        handler.send(request()) { done.outcomes.append($0) }
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"))
        #expect(done.outcomes.map(\.error) == [.reset])
        #expect(!handler.isOpen)
    }

    @Test func aTimeoutCompletesOnceAndALateResponseIsIgnored() throws {
        let (channel, handler) = try connected()
        let done = Completions()
        handler.send(request()) { done.outcomes.append($0) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(done.outcomes.count == 1)
        #expect(done.outcomes.first?.error == .timeout)
        _ = try? channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(done.outcomes.count == 1)
    }

    @Test func aReusedConnectionTimesOutEachRequestAtItsOwnDeadline() throws {
        let (channel, handler) = try connected()
        let loop = channel.embeddedEventLoop
        let done = Completions()
        let ok = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        // Request 1 at t=0 (5 s timeout) is answered at t=1; request 2 goes at t=4, so its deadline is t=9.
        handler.send(request()) { done.outcomes.append($0) }
        loop.advanceTime(by: .seconds(1))
        try channel.writeInbound(ok)
        loop.advanceTime(by: .seconds(3))
        handler.send(request()) { done.outcomes.append($0) }
        // t=6: past request 1's deadline, not request 2's.
        loop.advanceTime(by: .seconds(2))
        #expect(done.outcomes.map(\.error) == [nil])
        // t=8.9: still within request 2's time.
        loop.advanceTime(by: .milliseconds(2900))
        #expect(done.outcomes.count == 1)
        // t=9.1: request 2 times out, once.
        loop.advanceTime(by: .milliseconds(200))
        #expect(done.outcomes.map(\.error) == [nil, .timeout])
        loop.advanceTime(by: .seconds(30))
        #expect(done.outcomes.count == 2)
    }

    @Test func abandonCompletesOnceMarkedAbandoned() throws {
        let (channel, handler) = try connected()
        let done = Completions()
        handler.send(request()) { done.outcomes.append($0) }
        handler.abandon()
        handler.abandon()
        _ = try? channel.finish(acceptAlreadyClosed: true)
        #expect(done.outcomes.count == 1)
        #expect(done.outcomes.first?.abandoned == true)
    }
}
