import PreflightCore

extension Differential {
    /// The largest backtracking work Swift's `Regex` is asked for: `(subject + 3)^(choices + 1)` (the ways a
    /// backtracking engine can share the subject among its choices, from every start, where a choice also has empty
    /// ways — `(|a??)` three on an empty subject; see `choices(in:)`). Above it, only our side
    /// runs (its own bound still checked), so no input can hang the fuzzer in the reference.
    static let regexBudget = 2_000_000.0

    /// The linear regex (`matches` checks) against Swift's `Regex` in Unicode-scalar mode (ours matches scalars):
    /// input = pattern, a zero byte, subject. On patterns both accept (and within `regexBudget`), the same yes/no
    /// answer and the same first match (the first group's text when it took part, else the whole match). Always:
    /// our step count stays within its linear bound.
    public static func regex(_ data: [UInt8]) -> [String] {
        let cut = data.firstIndex(of: 0) ?? data.count
        let pattern = String(decoding: data[..<cut], as: UTF8.self)
        let subject = String(decoding: data[min(cut + 1, data.count)...], as: UTF8.self)
        guard let ours = try? LinearRegex(pattern) else { return [] }
        var broken: [String] = []
        let scalars = LinearRegex.subject(subject)
        let (matched, steps) = ours.run(scalars)
        let bound = 2 * (scalars.count + 1) * (ours.program.count + 1) + 16
        if steps > bound { broken.append("\(steps) steps on \(scalars.count) scalars (bound \(bound))") }
        let found = ours.firstMatch(in: subject)
        if (found != nil) != matched {
            broken.append("matches says \(matched), firstMatch \(String(describing: found))")
        }
        // Deliberate: every decimal digit (Unicode Nd) is a word character to ours; Swift leaves out some of newer
        // blocks (760 in Unicode 15, e.g. U+1FBF9). Where one is in the subject, `\w`-based answers may differ.
        if subject.unicodeScalars.contains(where: { !$0.isASCII && $0.properties.numericType == .decimal }),
            pattern.contains("\\w") || pattern.contains("\\W") || pattern.contains("\\b") || pattern.contains("\\B")
        {
            return broken
        }
        // Deliberate: `\d` is a decimal digit (Unicode Nd) to ours, as to PCRE2 (UCP), .NET and Python; to Swift it
        // is any scalar with a numeric value (SE-0363: also "½", "²", "①", "Ⅷ", "〨" — 1,253 more scalars). Where
        // one is in the subject, `\d`-based answers may differ.
        if subject.unicodeScalars.contains(where: { $0.properties.numericType.map { $0 != .decimal } ?? false }),
            pattern.contains("\\d") || pattern.contains("\\D")
        {
            return broken
        }
        // Swift's `Regex` misses matches next to U+FFFD (`\w` against "6" followed by U+FFFD finds nothing), which the
        // fuzzer's invalid UTF-8 makes: such inputs are not compared.
        if subject.unicodeScalars.contains("\u{FFFD}") || pattern.unicodeScalars.contains("\u{FFFD}") { return broken }
        // Nor `\w`/`\W` where a digit or "_" comes before a scalar from U+0300 up: Swift's `\w` does not match that
        // digit (the "5" of "5" + U+2028 or "5" + U+0400; letters are fine), so `\w+` on "05" + U+2028 finds "0".
        let subjectScalars = Array(subject.unicodeScalars)
        if pattern.contains("\\w") || pattern.contains("\\W"),
            zip(subjectScalars, subjectScalars.dropFirst()).contains(where: { a, b in
                (("0"..."9").contains(a) || a == "_") && b.value >= 0x300
            })
        {
            return broken
        }
        // Nor patterns with a character of several scalars (CRLF, a letter and its combining mark): Swift's pattern
        // parser takes the character as one atom (`a\r\n*?b` repeats CRLF), ours each scalar.
        // The same in a subject: Swift's `\W` takes the "5" of "5\u{0301}", judging it with its mark.
        if pattern.contains(where: { $0.unicodeScalars.count > 1 })
            || subject.contains(where: { $0.unicodeScalars.count > 1 })
        {
            return broken
        }
        // Nor are word boundaries: Swift's simple `\b` misses some (`\W\b` finds nothing in "-2").
        if pattern.contains("\\b") || pattern.contains("\\B") { return broken }
        // Nor a `{` with blanks before its `}`: a literal to ours (and PCRE), a quantifier to Swift (`a{2\u{0C}}`).
        if pattern.unicodeScalars.contains("{"), pattern.unicodeScalars.contains(where: { $0.properties.isWhitespace })
        {
            return broken
        }
        // Nor "`" in the subject of a case-insensitive pattern with a class: Swift's class takes "@" (U+0040) and "`"
        // (U+0060) for the two cases of one letter (`(?i)[@]` matches "`"; its `AsciiBitset.add` swaps the case of
        // 64...90, not 65...90). Outside a class it does not.
        if subject.unicodeScalars.contains("`"), pattern.contains("(?"), pattern.contains("[") { return broken }
        let quantifiers = choices(in: pattern)
        let repeated = repeatedChoices(in: pattern)
        guard scalars.count == subject.unicodeScalars.count,
            pow(Double(scalars.count + 3), Double(quantifiers + 1)) <= regexBudget,
            repeated == 0 || pow(Double(repeated + 2), Double(scalars.count + 1)) <= regexBudget,
            // Ours matches scalars and `\b` is the boundary between `\w` and `\W` (PCRE's); Swift's defaults are
            // characters and UAX #29 word boundaries, so the reference is set to ours.
            let swift = try? Regex(pattern).matchingSemantics(.unicodeScalar).wordBoundaryKind(.simple)
        else { return broken }
        let theirs: (whole: String, group: String?)
        do {
            guard let m = try swift.firstMatch(in: subject) else {
                if matched { broken.append("ours matched \(describe(found)); Swift's Regex did not") }
                return broken
            }
            theirs = (
                String(m.output[0].substring ?? ""), m.output.count > 1 ? m.output[1].substring.map(String.init) : nil
            )
        } catch {
            return broken
        }
        guard matched, let mine = ours.capture(scalars) else {
            broken.append("Swift's Regex matched \(describe(theirs.whole)); ours did not")
            return broken
        }
        // Deliberate: in a repeated group that can match empty (`(|a)+`), PCRE and Swift stop at an empty iteration;
        // the Pike VM skips it and may take a longer one. The yes/no answer is the same; the texts may differ.
        // An alternative that is only an anchor (`($|a)+`) or ends in an optional part (`(~??|a)+`) can match empty.
        let emptyable = [
            "(|", "|)", "||", "*)", "?)", "{0", "()", ":)", ">)", "})", "$)", "^)", "b)", "B)", "$|", "^|", "?|", "*|",
            "}|",
        ].contains {
            pattern.contains($0)
        }
        if emptyable, [")*", ")+", ")?", "){"].contains(where: { pattern.contains($0) }) { return broken }
        let text = { (r: Range<Int>) in String(String.UnicodeScalarView(scalars[r])) }
        let whole = text(mine.whole)
        let group = mine.group.map(text)
        if !whole.unicodeScalars.elementsEqual(theirs.whole.unicodeScalars) {
            broken.append("whole match: ours \(describe(whole)), Swift's \(describe(theirs.whole))")
        } else if group != theirs.group {
            broken.append("first group: ours \(describe(group)), Swift's \(describe(theirs.group))")
        }
        return broken
    }

    /// The choices a backtracking engine makes, for its budget: every `*`, `+`, `?` and `|`, and a counted repeat's
    /// count (`(|a??){58}` is 58 choices of three ways: it hung Swift's `Regex` in the fuzzer, counted as one).
    static func choices(in pattern: String) -> Int {
        let scalars = Array(pattern.unicodeScalars)
        var count = 0
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if "*+?|".unicodeScalars.contains(c) {
                count += 1
            } else if c == "{" {
                var j = i + 1
                var number = 0
                var largest = 1
                while j < scalars.count, ("0"..."9").contains(scalars[j]) || scalars[j] == "," {
                    if scalars[j] == "," {
                        number = 0
                    } else {
                        number = min(1_000_000, number * 10 + Int(scalars[j].value - 48))
                        largest = max(largest, number)
                    }
                    j += 1
                }
                count += largest
            }
            i += 1
        }
        return count
    }

    /// The most choices inside one repeated group (`(…)` followed by `*`, `+`, `?` or `{`). A repeat over a part with
    /// choices of its own can be split up in exponentially many ways, `(choices + 2)^(subject + 1)`, not
    /// polynomially: `(|.|.)+<` ran for minutes in Swift's `Regex` on 32 scalars with no "<" (found by the fuzzer as
    /// a timeout; the polynomial bound let it through). Escapes and classes are skipped; an over-count only makes
    /// the reference run less often.
    static func repeatedChoices(in pattern: String) -> Int {
        let s = Array(pattern.unicodeScalars)
        var opens: [Int] = []
        var most = 0
        var inClass = false
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\\" {
                i += 2
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
            } else if c == "[" {
                inClass = true
            } else if c == "(" {
                opens.append(i)
            } else if c == ")", let open = opens.popLast(), i + 1 < s.count, "*+?{".unicodeScalars.contains(s[i + 1]) {
                most = max(most, choices(in: String(String.UnicodeScalarView(s[(open + 1)..<i]))))
            }
            i += 1
        }
        return most
    }

    private static func describe(_ s: String?) -> String { s.map { $0.debugDescription } ?? "nil" }

    private static func pow(_ x: Double, _ y: Double) -> Double {
        var r = 1.0
        for _ in 0..<Int(y) {
            r *= x
            if r > 1e18 { return r }
        }
        return r
    }
}
