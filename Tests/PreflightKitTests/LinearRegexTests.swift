import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

@Suite struct LinearRegexTests {
    static let patterns = [
        "^HIT$", "^(HIT|MISS)$", #"^\d+(\.\d+)?$"#, "^application/json", "[A-Z]{1,5}", #"^[\w\s]*$"#, "(ab)+",
        #"\(a+\)+"#, "[(a+)]+", "(a){1}", "^(GET|POST) /", "a|b|", "colou?r", #"\bcat\b"#, #"\Bat"#, "x{2,}y",
        "^$", "$", "^", "a.c", #"[^\d\s]+"#, #"[a\-z]"#, "[-a]", "[a-]", #"[\]]"#, "(?:ab|cd){2}", "(?<n>ab)c",
        "(?i)hit", "(?i)[a-c]+x", #"\x41\u0042"#, #"\t"#, "a*?b", "a+?", "(a|ab)(c|bcd)(d*)", "(a*)*b", "(a*)+$",
        "é+", #"\w+@\w+\.com"#, "[😀-😂]", "a{0}", "a{0,0}b", "{", "a{,3}", "a{,}", "a{}", "a{2,1x}", "(|a)+b", "^.*$",
        #"[^\vs]+$"#, #"\v"#, #"a\V"#, #"line\012"#, #"[\004\0]"#, #"\08"#,
    ]

    static let subjects = [
        "", "HIT", "MISS", "hit", "3.14", "10", "application/json; charset=utf-8", "ABCDEF", "a b\tc", "abab",
        "(aa)", "(", "GET /x", "POST /", "colour", "color", "a cat sat", "concat", "xxy", "xy", "abc", "a\nc",
        "cat\n", "x-", "]", "abcdab", "cdcd", "abc", "AbC", "Hit", "AB", "\t", "aaab", "abcd", "é", "bob@ex.com",
        "😁", "{", "a{,3}", "a{,}", "a{}", "a{2,1x}", "b", "line\n", "\n",
    ]

    @Test(arguments: patterns)
    func answersAsSwiftsRegexDoes(_ pattern: String) throws {
        let linear = try LinearRegex(pattern)
        let swift = try Regex(pattern)
        for subject in Self.subjects {
            let expected = (try? swift.firstMatch(in: subject)) != nil
            #expect(linear.matches(subject) == expected, "\(pattern) on \(subject.debugDescription)")
        }
    }

    /// Patterns that take a backtracking engine minutes (the issue's `^(\w+\s?)*$` on a 29-byte header; `.*.*x`
    /// retried from every position) take at most a few steps per subject character per instruction here.
    @Test(arguments: [#"^(\w+\s?)*$"#, "^(a+)+$", "(a|aa)*b", ".*.*.*x", #"\w*\w*\w*x"#, "((ab)*c)+", "(x+x+)+y"])
    func hostilePatternsRunInLinearTime(_ pattern: String) throws {
        let regex = try LinearRegex(pattern)
        for n in [29, 1000, LinearRegex.maxSubjectBytes] {
            let subject = Array((String(repeating: "a", count: n - 1) + "!").unicodeScalars)
            let (matched, steps) = regex.run(subject)
            #expect(!matched)
            #expect(steps <= 2 * (subject.count + 1) * regex.program.count, "\(pattern) n=\(n): \(steps) steps")
        }
    }

    @Test(arguments: [
        (#"(a)\1"#, "backreferences"), ("a(?=b)", "lookaround"), ("a(?!b)", "lookaround"), ("(?<=a)b", "lookaround"),
        ("a*+", "possessive"), ("(?m)^a", "inline options"), ("[[:alpha:]]", "POSIX classes"),
        ("(a{1000}){1000}", "too large"), ("(ab", "not closed"), ("ab)", "unbalanced"), ("*a", "nothing to repeat"),
        ("a**", "follows another"), (#"\q"#, "not a supported escape"), ("[z-a]", "backwards"), ("[ab", "not closed"),
        (#"a\"#, "ends with"), ("(|a){13413,}", "above 1000"), ("a{2,1}", "out of order"),
        (#"[\V]"#, "not supported in a class"), (#"\x+a"#, "not a character"), (#"\u{+41}"#, "not a character"),
        (#"\0000"#, "three octal digits"), ("[a&&b]", "set operations"), ("[\u{1B}--Z]", "set operations"),
        ("[+--]", "set operations"), ("[!-&&b]", "set operations"), ("[!-~~b]", "set operations"),
    ])
    func whatCannotRunInLinearTimeIsRefusedWithAReason(_ pattern: String, _ reason: String) {
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(pattern) }
        do {
            _ = try LinearRegex(pattern)
        } catch {
            #expect(error.description.contains(reason), "\(pattern): \(error)")
        }
    }

    /// `\d` is Unicode Nd, as in PCRE2 (UCP), .NET and Python; Swift's `Regex` also takes "½", "①", "〨" (found by
    /// the differential fuzzer, documented in the README; its input is in the corpus).
    @Test func aDigitIsADecimalDigitNotEveryNumber() throws {
        let digits = try LinearRegex(#"\d+"#)
        #expect(digits.firstMatch(in: "04\u{3028}b") == "04")
        #expect(digits.firstMatch(in: "\u{0663}\u{0664}") == "\u{0663}\u{0664}")  // Arabic-Indic 3, 4 (Nd)
        #expect(digits.firstMatch(in: "\u{BD}\u{B2}\u{2460}\u{2167}") == nil)
        #expect(try LinearRegex(#"[^\D]"#).firstMatch(in: "\u{2460}7") == "7")
    }

    @Test func aCaseInsensitiveClassFoldsLettersOnly() throws {
        // "@" and "`" are not two cases of a letter (Swift's `Regex` class takes them for one: a quirk, README).
        #expect(try LinearRegex("(?i)[@]").firstMatch(in: "`") == nil)
        #expect(try LinearRegex("(?i)[?-A]").firstMatch(in: "`@") == "@")
        #expect(try LinearRegex("(?i)[?-A]").firstMatch(in: "`a") == "a")
        #expect(try LinearRegex("(?i)[`]").firstMatch(in: "@`") == "`")
    }

    @Test func theLoaderNamesAnUnusablePatternAtItsPath() throws {
        let json = """
            { "name": "re", "target": { "baseURL": "http://127.0.0.1:1" },
              "requests": [ { "name": "r", "path": "/",
                              "checks": [ { "header": "X-Cache", "matches": "^(?=HIT)" } ] } ],
              "load": { "executor": "per-vu-iterations" } }
            """
        let error = #expect(throws: ScenarioError.self) {
            try ScenarioLoader(environment: [:])
                .load(data: Data(json.utf8), file: "x", baseDirectory: URL(fileURLWithPath: "/tmp"))
        }
        let p = try #require(error?.problems.first)
        #expect(p.path == "$.requests[0].checks[0].matches")
        #expect(p.message == #"is not a usable regular expression: lookaround ("(?=") is not supported"#)
    }

    @Test func aMatchesCheckSeesABoundedSubject() throws {
        let long = String(repeating: "a", count: 100_000) + "!"
        #expect(
            !RequestPlan.holds(.matches("a!"), actual: .string(long), expected: { "" }, regex: try LinearRegex("a!"))
        )
        #expect(
            RequestPlan.holds(.matches("^a+"), actual: .string(long), expected: { "" }, regex: try LinearRegex("^a+"))
        )
    }
}
