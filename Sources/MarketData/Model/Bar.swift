/// One daily bar: a trading date and its OHLCV values.
public struct Bar: Sendable, Equatable, Codable {
    /// The trading date, `YYYY-MM-DD`.
    public var date: String
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double

    public init(date: String, open: Double, high: Double, low: Double, close: Double, volume: Double) {
        self.date = date
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }
}
