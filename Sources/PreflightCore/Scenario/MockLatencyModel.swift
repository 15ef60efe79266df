import Foundation

/// Seeded mock latencies: the latency of request `i` (the iteration that sends it) of request name `n` depends
/// only on (seed, n, i), never on concurrency or timing, so a mock run can be replayed.
public struct MockLatencyModel: Sendable {
    public let latency: MockSettings.Latency
    /// The standard normal quantile at 0.99.
    package static let z99 = 2.326_347_874_040_840_8

    public init(_ latency: MockSettings.Latency) { self.latency = latency }

    /// μ and σ of the underlying normal for `lognormal`.
    package var parameters: (mu: Double, sigma: Double) {
        guard case .lognormal(let median, let p99, _, _) = latency else { return (0, 0) }
        return (log(median), (log(p99) - log(median)) / Self.z99)
    }

    /// The share of the untruncated distribution inside [min, max] (1 for uniform and fixed).
    public var massInBounds: Double {
        guard case .lognormal(_, _, let min, let max) = latency else { return 1 }
        let (mu, sigma) = parameters
        let cdf: (Double) -> Double = { x in
            x <= 0 ? 0 : (x.isInfinite ? 1 : 0.5 * erfc(-(log(x) - mu) / (sigma * 2.0.squareRoot())))
        }
        return cdf(max) - cdf(min)
    }

    /// The latency in seconds of request `index` of `name`.
    public func seconds(seed: UInt64, name: String, index: Int) -> Double {
        var rng = SplitMix64(
            seed: seed ^ SplitMix64.hash(name) ^ (UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15)
        )
        switch latency {
        case .fixed(let v):
            return v
        case .uniform(let min, let max):
            return min + (max - min) * unit(&rng)
        case .lognormal(_, _, let min, let max):
            let (mu, sigma) = parameters
            // Truncation redraws; the loader guarantees [min, max] holds at least 0.1 % of the mass, so 100,000
            // draws fail with probability below e^-100.
            for _ in 0..<100_000 {
                let u1 = 1 - unit(&rng)  // (0, 1]
                let u2 = unit(&rng)
                let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
                let x = exp(mu + sigma * z)
                if x >= min && x <= max { return x }
            }
            return Swift.min(max, Swift.max(min, exp(mu)))
        }
    }

    /// A uniform draw in [0, 1).
    private func unit(_ rng: inout SplitMix64) -> Double { Double(rng.next() >> 11) * 0x1.0p-53 }
}
