import PreflightCore

/// One connection's request/response exchanges as a value: every request sent gets exactly one completion.
///
/// `ClientResponseHandler` feeds it what NIO reports (a send, the response head, its end, an error, the channel
/// going inactive, the timeout, an abandon) and does what it returns. Tested without I/O, and on `EmbeddedChannel`
/// through the handler.
struct ExchangeStateMachine {
    enum State: Equatable {
        /// Connected, no request in flight.
        case idle
        /// A request is in flight; `keepAlive` is what the response head said (true until it arrives).
        case inFlight(headReceived: Bool, keepAlive: Bool)
        /// The connection is unusable (closed, failed, or its last response asked to close).
        case closed
    }

    enum SendAction: Equatable {
        /// Write the request and arm the timeout.
        case write
        /// The connection is closed: complete the request at once with this error, writing nothing.
        case fail(ErrorClass)
    }

    enum CompletionAction: Equatable {
        /// Nothing to complete (no request in flight): a late or stray event.
        case none
        /// Nothing to complete, but close the channel.
        case close
        /// Complete the request in flight (`error` nil means a full response); close the channel if asked.
        case complete(error: ErrorClass?, close: Bool)
    }

    private(set) var state: State

    init(connected: Bool = true) { state = connected ? .idle : .closed }

    /// A new request may be sent on this connection.
    var isOpen: Bool { state == .idle }

    /// The channel became active (the handler was added before the connection completed).
    mutating func opened() {
        if state == .closed { state = .idle }
    }

    mutating func send() -> SendAction {
        switch state {
        case .idle:
            state = .inFlight(headReceived: false, keepAlive: true)
            return .write
        case .inFlight:
            // One request at a time per VU: a second send is a harness bug, reported rather than lost.
            return .fail(.reset)
        case .closed:
            return .fail(.reset)
        }
    }

    /// The response head arrived. Returns false when no request is in flight (the bytes are ignored).
    mutating func receivedHead(keepAlive: Bool) -> Bool {
        guard case .inFlight(false, _) = state else { return false }
        state = .inFlight(headReceived: true, keepAlive: keepAlive)
        return true
    }

    /// Whether body parts belong to the request in flight.
    var isReceivingBody: Bool {
        if case .inFlight(true, _) = state { return true }
        return false
    }

    /// The response ended; the connection stays open unless the response asked to close it.
    mutating func receivedEnd() -> CompletionAction {
        guard case .inFlight(true, let keepAlive) = state else { return .none }
        state = keepAlive ? .idle : .closed
        return .complete(error: nil, close: !keepAlive)
    }

    /// An error on the channel: the request in flight fails with `kind`; the connection is closed either way.
    mutating func failed(_ kind: ErrorClass) -> CompletionAction {
        let before = state
        state = .closed
        switch before {
        case .inFlight: return .complete(error: kind, close: true)
        case .idle: return .close
        case .closed: return .none
        }
    }

    /// The channel went inactive (the peer closed, or we did).
    mutating func closed() -> CompletionAction {
        let wasInFlight = if case .inFlight = state { true } else { false }
        state = .closed
        return wasInFlight ? .complete(error: .reset, close: false) : .none
    }

    /// The request's timeout fired.
    mutating func timedOut() -> CompletionAction {
        guard case .inFlight = state else { return .none }
        state = .closed
        return .complete(error: .timeout, close: true)
    }

    /// The run no longer wants the request in flight.
    mutating func abandoned() -> CompletionAction {
        let wasInFlight = if case .inFlight = state { true } else { false }
        state = .closed
        return wasInFlight ? .complete(error: .reset, close: true) : .none
    }
}
