/// The quant features of SPEC §10, as the reference libraries compute them, so results are reproducible:
/// TA-Lib for MOM, RSI, SMA and EMA; empyrical for annual volatility and max drawdown.
///
/// The input is a symbol's most recent `window` bars (all of them if fewer), oldest first; each feature is the
/// last value of its series over that input, or nil when the input is too short. Pure: no I/O, no clock.
public enum QuantFeatures {
    /// Bars used as input: the most recent 504 (two trading years).
    public static let window = 504
    /// Trading days per year, for annualising volatility (empyrical's default).
    public static let annualisation = 252.0

    /// Feature names in the order of the API's `features` object.
    public static let names = [
        "return_1d", "return_5d", "return_21d", "return_63d", "return_252d", "volatility_21d", "volatility_63d",
        "momentum_10", "rsi_14", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "max_drawdown_252d", "vwap_20",
    ]

    /// Every feature by name; nil where the input is too short.
    public static func compute(_ allBars: [Bar]) -> [String: Double?] {
        let bars = allBars.count > window ? Array(allBars.suffix(window)) : allBars
        let close = bars.map(\.close)
        let returns = simpleReturns(close)
        return [
            "return_1d": periodReturn(close, 1),
            "return_5d": periodReturn(close, 5),
            "return_21d": periodReturn(close, 21),
            "return_63d": periodReturn(close, 63),
            "return_252d": periodReturn(close, 252),
            "volatility_21d": annualVolatility(returns, 21),
            "volatility_63d": annualVolatility(returns, 63),
            "momentum_10": momentum(close, 10),
            "rsi_14": rsi(close, 14),
            "sma_20": sma(close, 20),
            "sma_50": sma(close, 50),
            "sma_200": sma(close, 200),
            "ema_12": ema(close, 12),
            "ema_26": ema(close, 26),
            "max_drawdown_252d": maxDrawdown(returns, 252),
            "vwap_20": vwap(bars, 20),
        ]
    }

    /// Daily simple returns: `close[i] / close[i-1] - 1`.
    public static func simpleReturns(_ close: [Double]) -> [Double] {
        guard close.count > 1 else { return [] }
        return (1..<close.count).map { close[$0] / close[$0 - 1] - 1 }
    }

    /// `close / close n bars earlier - 1`.
    public static func periodReturn(_ close: [Double], _ n: Int) -> Double? {
        guard close.count > n else { return nil }
        return close[close.count - 1] / close[close.count - 1 - n] - 1
    }

    /// empyrical `annual_volatility` of the last `n` returns: sample standard deviation (ddof = 1) × √252.
    public static func annualVolatility(_ returns: [Double], _ n: Int) -> Double? {
        guard returns.count >= n, n > 1 else { return nil }
        let r = returns.suffix(n)
        let mean = r.reduce(0, +) / Double(n)
        let variance = r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        return variance.squareRoot() * annualisation.squareRoot()
    }

    /// TA-Lib MOM: `close - close n bars earlier`.
    public static func momentum(_ close: [Double], _ n: Int) -> Double? {
        guard close.count > n else { return nil }
        return close[close.count - 1] - close[close.count - 1 - n]
    }

    /// TA-Lib SMA: the mean of the last `n` closes.
    public static func sma(_ close: [Double], _ n: Int) -> Double? {
        guard close.count >= n, n > 0 else { return nil }
        return close.suffix(n).reduce(0, +) / Double(n)
    }

    /// TA-Lib EMA: seeded with the SMA of the first `n` values, then `prev + k·(x − prev)`, k = 2/(n+1).
    public static func ema(_ close: [Double], _ n: Int) -> Double? {
        guard close.count >= n, n > 0 else { return nil }
        let k = 2.0 / Double(n + 1)
        var prev = close.prefix(n).reduce(0, +) / Double(n)
        for x in close.dropFirst(n) { prev = ((x - prev) * k) + prev }
        return prev
    }

    /// TA-Lib RSI: gains and losses seeded with the simple average of the first `n` changes, then Wilder's
    /// smoothing over the rest of the input; 0 when there is no movement (TA-Lib's own rule).
    public static func rsi(_ close: [Double], _ n: Int) -> Double? {
        guard close.count > n, n > 1 else { return nil }
        var gain = 0.0
        var loss = 0.0
        for i in 1...n {
            let d = close[i] - close[i - 1]
            if d < 0 { loss -= d } else { gain += d }
        }
        gain /= Double(n)
        loss /= Double(n)
        var value = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
        guard close.count > n + 1 else { return value }
        for i in (n + 1)..<close.count {
            let d = close[i] - close[i - 1]
            gain *= Double(n - 1)
            loss *= Double(n - 1)
            if d < 0 { loss -= d } else { gain += d }
            gain /= Double(n)
            loss /= Double(n)
            value = isZero(gain + loss) ? 0 : 100 * (gain / (gain + loss))
        }
        return value
    }

    /// TA-Lib's `TA_IS_ZERO`.
    static func isZero(_ v: Double) -> Bool { -0.000_000_01 < v && v < 0.000_000_01 }

    /// empyrical `max_drawdown` of the last `n` returns: the deepest fall from a running peak of the cumulative
    /// value (started at 100), as a negative fraction.
    public static func maxDrawdown(_ returns: [Double], _ n: Int) -> Double? {
        guard returns.count >= n, n > 0 else { return nil }
        var growth = 1.0
        var peak = 100.0
        var worst = 0.0
        for r in returns.suffix(n) {
            growth *= 1 + r
            let value = growth * 100
            peak = max(peak, value)
            worst = min(worst, (value - peak) / peak)
        }
        return worst
    }

    /// Σ(typical price × volume) / Σ volume over the last `n` bars; typical price = (H + L + C) / 3.
    public static func vwap(_ bars: [Bar], _ n: Int) -> Double? {
        guard bars.count >= n, n > 0 else { return nil }
        var pv = 0.0
        var v = 0.0
        for b in bars.suffix(n) {
            pv += (b.high + b.low + b.close) / 3 * b.volume
            v += b.volume
        }
        return v > 0 ? pv / v : nil
    }
}
