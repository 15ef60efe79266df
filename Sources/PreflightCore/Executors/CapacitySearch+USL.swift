import Foundation

/// The Universal Scalability Law (Gunther): throughput at concurrency N is `X(N) = λN / (1 + σ(N−1) + κN(N−1))`,
/// σ the contention (the serial share), κ the coherency cost (crosstalk between N workers). Fitted to a closed-model
/// capacity search's steps, it says where throughput peaks (`N* = √((1−σ)/κ)`) and how high, beyond the steps run.
public struct USLFit: Sendable, Equatable, Codable {
    /// Throughput of one worker, per second: X(1) as fitted.
    public var lambda: Double
    public var sigma: Double
    public var kappa: Double
    /// The concurrency where throughput peaks; nil when κ is 0 (it never peaks, only levels off).
    public var peakConcurrency: Double?
    /// The throughput the fit predicts at its peak (or its ceiling λ/σ when κ is 0; nil when both are 0).
    public var peakThroughput: Double?
    /// R² of the fitted throughput against the measured one.
    public var rSquared: Double

    /// The fitted throughput at concurrency `n`.
    public func throughput(at n: Double) -> Double { lambda * n / (1 + sigma * (n - 1) + kappa * n * (n - 1)) }

    /// Fits σ and κ by least squares to `points` (concurrency, throughput per second), with λ taken from the point at
    /// concurrency 1 (or, without one, from the lowest concurrency's throughput per worker).
    ///
    /// Gunther's linearisation: with `C(N) = X(N)/λ`, `N/C(N) − 1 = σ(N−1) + κN(N−1)`, a linear least-squares
    /// problem in (σ, κ) without intercept, solved by its 2×2 normal equations; a negative coefficient is fitted
    /// again with it held at 0 (neither can be negative). Nil with fewer than 3 distinct concurrencies or no
    /// throughput.
    public static func fit(_ points: [(concurrency: Double, throughput: Double)]) -> USLFit? {
        let usable = points.filter { $0.concurrency >= 1 && $0.throughput > 0 }
        guard Set(usable.map(\.concurrency)).count >= 3,
            let lowest = usable.min(by: { $0.concurrency < $1.concurrency })
        else { return nil }
        let lambda = lowest.throughput / lowest.concurrency
        // y = σ·a + κ·b with a = N−1, b = N(N−1).
        let rows = usable.map { p -> (a: Double, b: Double, y: Double) in
            let n = p.concurrency
            return (n - 1, n * (n - 1), n / (p.throughput / lambda) - 1)
        }
        let saa = rows.reduce(0) { $0 + $1.a * $1.a }
        let sab = rows.reduce(0) { $0 + $1.a * $1.b }
        let sbb = rows.reduce(0) { $0 + $1.b * $1.b }
        let say = rows.reduce(0) { $0 + $1.a * $1.y }
        let sby = rows.reduce(0) { $0 + $1.b * $1.y }
        var sigma = 0.0
        var kappa = 0.0
        let det = saa * sbb - sab * sab
        if det > 0 {
            sigma = (say * sbb - sby * sab) / det
            kappa = (sby * saa - say * sab) / det
        }
        if sigma < 0 || det <= 0 {
            sigma = 0
            kappa = sbb > 0 ? max(0, sby / sbb) : 0
        }
        if kappa < 0 {
            kappa = 0
            sigma = saa > 0 ? max(0, say / saa) : 0
        }
        var fit = USLFit(
            lambda: lambda,
            sigma: sigma,
            kappa: kappa,
            peakConcurrency: nil,
            peakThroughput: nil,
            rSquared: 0
        )
        if kappa > 0 {
            let peak = (max(0, 1 - sigma) / kappa).squareRoot()
            fit.peakConcurrency = max(1, peak)
            fit.peakThroughput = fit.throughput(at: max(1, peak))
        } else if sigma > 0 {
            fit.peakThroughput = lambda / sigma
        }
        let mean = usable.reduce(0) { $0 + $1.throughput } / Double(usable.count)
        let total = usable.reduce(0) { $0 + pow($1.throughput - mean, 2) }
        let residual = usable.reduce(0) { $0 + pow($1.throughput - fit.throughput(at: $1.concurrency), 2) }
        fit.rSquared = total > 0 ? 1 - residual / total : 1
        return fit
    }
}
