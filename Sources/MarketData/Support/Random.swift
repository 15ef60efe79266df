import Foundation
import NIOConcurrencyHelpers

/// A seeded generator shared by concurrent users.
public final class SharedRandom: Sendable {
    private let state: NIOLockedValueBox<SplitMixGenerator>

    public init(seed: UInt64) { state = NIOLockedValueBox(SplitMixGenerator(seed: seed)) }

    public func withGenerator<T>(_ body: (inout SplitMixGenerator) -> T) -> T { state.withLockedValue { body(&$0) } }
}

/// SplitMix64: a small seeded generator (the system one can not be seeded), used for jitter, demo data and the
/// simulator's walks and faults.
public struct SplitMixGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed derived from a name (FNV-1a), so each symbol gets its own stream.
    public init(seed: UInt64, name: String) {
        self.init(seed: seed ^ name.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
    }

    /// A uniform draw in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal draw (Box–Muller).
    public mutating func normal() -> Double { (-2 * log(1 - unit())).squareRoot() * cos(2 * .pi * unit()) }
}
