import Foundation
import Testing

@testable import MarketData

/// Every feature against golden vectors computed by TA-Lib and empyrical themselves
/// (`scripts/golden/generate_features.py`), at 1e-9 relative tolerance, including early values and edge cases.
struct QuantFeaturesTests {
    struct Golden: Decodable {
        struct Series: Decodable {
            var name: String
            var bars: [Bar]
            var checks: [Check]
        }

        struct Check: Decodable {
            var count: Int
            var expected: [String: Double?]
        }

        var series: [Series]
        var window: Int
    }

    static let golden: Golden = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/features_golden.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    static let cases: [String] = golden.series.flatMap { s in s.checks.map { "\(s.name)/\($0.count)" } }

    @Test func theWindowMatchesTheGenerator() {
        #expect(Self.golden.window == QuantFeatures.window)
    }

    @Test(arguments: cases)
    func featuresMatchTheReferenceLibraries(_ id: String) throws {
        let parts = id.split(separator: "/")
        let series = try #require(Self.golden.series.first { $0.name == parts[0] })
        let check = try #require(series.checks.first { String($0.count) == parts[1] })
        let got = QuantFeatures.compute(Array(series.bars.prefix(check.count)))
        #expect(Set(got.keys) == Set(QuantFeatures.names))
        for name in QuantFeatures.names {
            let expected = check.expected[name] ?? nil
            let actual = got[name] ?? nil
            switch (expected, actual) {
            case (nil, nil): break
            case (let e?, let a?):
                let tolerance = max(abs(e), 1e-12) * 1e-9
                #expect(abs(a - e) <= tolerance, "\(name): \(a) vs \(e)")
            default:
                Issue.record("\(name): got \(String(describing: actual)), expected \(String(describing: expected))")
            }
        }
    }
}
