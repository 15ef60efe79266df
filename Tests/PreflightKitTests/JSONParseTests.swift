import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

@Suite struct JSONParseTests {
    static let valid = [
        #"{"a": [1, -2.5e3, 0, 1E2, true, false, null, "x"], "b": {}, "c": []}"#,
        #""\u00e9\ud83d\ude00\n\t\"\\\/""#, "  42  ", #"{"dup": 1, "dup": 2}"#, "\u{FEFF}{}", #"["é😀"]"#,
        "-0", "0.5", #"{"nested": {"deeper": [[[{"k": "v"}]]]}}"#,
    ]

    static let invalid = [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", ".5", "+1", "NaN", "Infinity", "1e400", "\"\u{01}\"", #""\x""#,
        #""\ud800""#, #""\udc00x""#, "[1 2]", "{} {}", "tru", "\"abc", #"{"a":1,}"#, "0x10",
    ]

    @Test(arguments: valid)
    func readsWhatJSONSerializationReads(_ text: String) throws {
        let ours = try JSONValue.parse(Data(text.utf8))
        let decoded = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(text.replacingOccurrences(of: "\u{FEFF}", with: "").utf8)
        )
        if text.contains("dup") {
            #expect(ours["dup"] == .number(2))  // the last of duplicate keys wins
        } else {
            #expect(ours == decoded)
        }
    }

    @Test(arguments: invalid)
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(Data(text.utf8)) }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: (any Error).self) { try JSONValue.parse(Data([0x22, 0xFF, 0xFE, 0x22])) }
    }

    @Test func nestingDeeperThanTheLimitIsRefusedNotAStackOverflow() throws {
        let ok = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        _ = try JSONValue.parse(Data(ok.utf8))
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: (any Error).self) { try JSONValue.parse(Data(deep.utf8)) }
    }
}
