/// Where one request's time went, k6's timing phases (SPEC §15): the six add up to the request's time from its
/// send to its last byte.
public enum Phase: Int, CaseIterable, Sendable {
    /// Waiting for a connection (or, over HTTP/2, a stream) before anything was sent. A VU owns its HTTP/1.1
    /// connection, so on a kept-alive one this is 0.
    case blocked
    /// The TCP handshake, on the request that opened the connection (0 on later ones).
    case connecting
    /// The TLS handshake, on the request that opened the connection (0 without TLS and on later requests).
    case tlsHandshaking
    /// Writing the request to the socket.
    case sending
    /// From the request written to the answer's first byte: the server's time and the network's (TTFB).
    case waiting
    /// From the first byte to the last.
    case receiving

    /// The short word a table or a summary line uses.
    public var word: String {
        switch self {
        case .blocked: "blocked"
        case .connecting: "connecting"
        case .tlsHandshaking: "TLS"
        case .sending: "sending"
        case .waiting: "waiting"
        case .receiving: "receiving"
        }
    }
}

/// One request's timing phases in nanoseconds, indexed by `Phase`.
public struct PhaseTimes: Sendable, Equatable {
    public var blocked: Int64 = 0
    public var connecting: Int64 = 0
    public var tlsHandshaking: Int64 = 0
    public var sending: Int64 = 0
    public var waiting: Int64 = 0
    public var receiving: Int64 = 0

    public init() {}

    public subscript(phase: Phase) -> Int64 {
        get {
            switch phase {
            case .blocked: blocked
            case .connecting: connecting
            case .tlsHandshaking: tlsHandshaking
            case .sending: sending
            case .waiting: waiting
            case .receiving: receiving
            }
        }
        set {
            switch phase {
            case .blocked: blocked = newValue
            case .connecting: connecting = newValue
            case .tlsHandshaking: tlsHandshaking = newValue
            case .sending: sending = newValue
            case .waiting: waiting = newValue
            case .receiving: receiving = newValue
            }
        }
    }

    /// The sum of the phases.
    public var total: Int64 { blocked + connecting + tlsHandshaking + sending + waiting + receiving }

    /// Adds another exchange's phases (the hops of a followed redirect).
    public mutating func add(_ other: PhaseTimes) {
        blocked += other.blocked
        connecting += other.connecting
        tlsHandshaking += other.tlsHandshaking
        sending += other.sending
        waiting += other.waiting
        receiving += other.receiving
    }
}
