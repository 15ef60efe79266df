/// Differential fuzz targets (#31): each of Preflight's own parsers against a maintained reference — the HTTP/1
/// response parser against NIOHTTP1's llhttp, the JSON parser against Foundation's `JSONSerialization`, the linear
/// regex against Swift's `Regex`, the Prometheus text parser against its own rendering. Each takes arbitrary bytes,
/// never traps, and returns what it found broken (empty when the parsers agree or differ only as documented).
/// libFuzzer drives them from `Fuzz/`; `swift test` replays `Fuzz/corpus/<target>/` through them.
public enum Differential {
    /// The targets by name, as `PREFLIGHT_FUZZ_TARGET` and `Fuzz/corpus/` name them.
    public static let targets: [String: @Sendable ([UInt8]) -> [String]] = [
        "http1": http1,
        "json": json,
        "prometheus": prometheus,
        "regex": regex,
    ]
}
