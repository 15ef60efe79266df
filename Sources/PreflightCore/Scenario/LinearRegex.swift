/// The regular expressions of `matches` checks, run in time linear in the subject (a Thompson NFA simulated
/// Pike-style), so no pattern and no response can stall a run.
///
/// Swift's `Regex` backtracks and cannot be interrupted: `^(\w+\s?)*$` against a 29-character header takes
/// minutes, and even `.*.*x` against 1 KiB takes seconds, since a search retries from every position. A check only
/// asks *whether* a pattern matches somewhere, which an NFA answers without backtracking in
/// O(subject × pattern) steps, whatever the pattern.
///
/// Syntax (the common subset of ICU, PCRE and Swift): literals; `.` (not a line break); classes `[a-z]`, `[^…]`
/// with `\d \w \s` inside; escapes `\d \D \w \W \s \S \b \B \t \n \r \f \v \0 \xhh \u{h…} \uhhhh` and escaped
/// punctuation; anchors `^` `$` (start and end of the value, as Swift's `Regex` has them); groups
/// `(…)`, `(?:…)`, `(?<name>…)`; alternation `|`; quantifiers `* + ? {n} {n,} {n,m}` and their lazy forms (the
/// same yes/no answer); a leading `(?i)` for case-insensitive matching. Refused with a reason: backreferences,
/// lookaround, possessive quantifiers, other inline options, and patterns that compile to more than
/// ``maxInstructions`` steps (`{n,m}` copies its operand). Matching is on Unicode scalars; `\d`, `\w`, `\s` are
/// Unicode-aware as in Swift.
public struct LinearRegex: Sendable {
    /// A compiled pattern larger than this is refused: each subject character costs at most this many steps.
    public static let maxInstructions = 4000
    /// A `matches` check sees at most this many leading bytes of the value.
    public static let maxSubjectBytes = 4096

    package enum ClassItem: Sendable, Equatable {
        case range(UInt32, UInt32)
        case digit(Bool)  // negated?
        case word(Bool)
        case space(Bool)
    }

    package enum Instruction: Sendable, Equatable {
        case scalar(Unicode.Scalar)
        case anyButNewline
        case set([ClassItem], negated: Bool)
        case split(Int, Int)
        case jump(Int)
        case lineStart
        case lineEnd
        case wordBoundary(Bool)  // true: \b, false: \B
        /// Records the position as the first group's start (0) or end (1); an epsilon step for a yes/no answer.
        case save(Int)
        case match
    }

    package indirect enum Node: Sendable {
        case empty
        case scalar(Unicode.Scalar)
        case any
        case set([ClassItem], negated: Bool)
        case concat([Node])
        case alternation([Node])
        /// `lazy` prefers fewer repeats: the same yes/no answer, a shorter captured text.
        case repetition(Node, min: Int, max: Int?, lazy: Bool)
        case lineStart, lineEnd
        case wordBoundary(Bool)
        /// The first capturing group (the only one a capture reads); later groups are plain groups.
        case firstGroup(Node)
    }

    /// Why a pattern is refused.
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    package let program: [Instruction]
    package let caseInsensitive: Bool
    package let anchoredAtStart: Bool
    public let pattern: String

    public init(_ pattern: String) throws(SyntaxError) {
        self.pattern = pattern
        var scalars = Array(pattern.unicodeScalars)[...]
        var insensitive = false
        if scalars.starts(with: "(?i)".unicodeScalars) {
            insensitive = true
            scalars = scalars.dropFirst(4)
        }
        var parser = Parser(input: scalars)
        let node = try parser.parseAlternation()
        if let c = parser.input.first {
            throw SyntaxError(description: c == ")" ? "unbalanced \")\"" : "unexpected \"\(c)\"")
        }
        var compiler = Compiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
        caseInsensitive = insensitive
        if case .lineStart = program.first { anchoredAtStart = true } else { anchoredAtStart = false }
    }

    /// Whether the pattern matches somewhere in the first ``maxSubjectBytes`` bytes of `text`.
    public func matches(_ text: String) -> Bool {
        run(Self.subject(text)).matched
    }

    /// The scalars of the first ``maxSubjectBytes`` bytes of `text`.
    package static func subject(_ text: String) -> [Unicode.Scalar] {
        var subject: [Unicode.Scalar] = []
        subject.reserveCapacity(min(text.utf8.count, Self.maxSubjectBytes))
        var bytes = 0
        for s in text.unicodeScalars {
            bytes += UTF8.width(s)
            if bytes > Self.maxSubjectBytes { break }
            subject.append(s)
        }
        return subject
    }

    /// The leftmost match in the first ``maxSubjectBytes`` bytes of `text`, as PCRE and Swift's `Regex` choose it
    /// (leftmost, then the preferred branch and repeat count): the first group's text when the pattern has a
    /// group that took part, else the whole match; nil when it does not match. Linear like ``matches(_:)``.
    public func firstMatch(in text: String) -> String? {
        let subject = Self.subject(text)
        guard let found = capture(subject) else { return nil }
        let range = found.group ?? found.whole
        var view = String.UnicodeScalarView()
        view.append(contentsOf: subject[range])
        return String(view)
    }

    /// A Pike VM whose threads carry the match's start and the first group's bounds, kept in priority order so
    /// the first thread to reach `.match` is the one a backtracking engine would have found.
    package func capture(_ subject: [Unicode.Scalar]) -> (whole: Range<Int>, group: Range<Int>?)? {
        struct Thread {
            var pc: Int
            var start: Int
            var groupStart = -1
            var groupEnd = -1
        }
        let n = subject.count
        var mark = [Int](repeating: -1, count: program.count)
        var generation = 0
        var current: [Thread] = []
        var next: [Thread] = []
        var stack: [Thread] = []
        var best: (whole: Range<Int>, group: Range<Int>?)?

        /// Follows epsilon steps from `t` at position `i`, in priority order; a pc reached first at `i` wins.
        func add(_ t: Thread, at i: Int, into list: inout [Thread]) {
            stack.append(t)
            while var t = stack.popLast() {
                guard mark[t.pc] != generation else { continue }
                mark[t.pc] = generation
                switch program[t.pc] {
                case .jump(let to):
                    t.pc = to
                    stack.append(t)
                case .split(let a, let b):
                    t.pc = b
                    stack.append(t)
                    t.pc = a
                    stack.append(t)
                case .save(let slot):
                    if slot == 0 { t.groupStart = i } else { t.groupEnd = i }
                    t.pc += 1
                    stack.append(t)
                case .lineStart:
                    if i == 0 {
                        t.pc += 1
                        stack.append(t)
                    }
                case .lineEnd:
                    if i == n {
                        t.pc += 1
                        stack.append(t)
                    }
                case .wordBoundary(let want):
                    let before = i > 0 && Self.isWord(subject[i - 1])
                    let after = i < n && Self.isWord(subject[i])
                    if (before != after) == want {
                        t.pc += 1
                        stack.append(t)
                    }
                case .scalar, .anyButNewline, .set, .match: list.append(t)
                }
            }
        }

        generation += 1
        add(Thread(pc: 0, start: 0), at: 0, into: &current)
        var i = 0
        while true {
            generation += 1
            next.removeAll(keepingCapacity: true)
            for t in current {
                if case .match = program[t.pc] {
                    // Threads after this one have lower priority: they are cut.
                    best = (
                        t.start..<i, t.groupStart >= 0 && t.groupEnd >= t.groupStart ? t.groupStart..<t.groupEnd : nil
                    )
                    break
                }
                if i < n, accepts(program[t.pc], subject[i]) {
                    var moved = t
                    moved.pc += 1
                    add(moved, at: i + 1, into: &next)
                }
            }
            if i >= n { break }
            // A search: a new, lowest-priority thread at every position until a match is found.
            if best == nil && !anchoredAtStart { add(Thread(pc: 0, start: i + 1), at: i + 1, into: &next) }
            // No thread left: done, unless a search may still start one later (a thread that starts with an
            // assertion, `\b`, dies where the assertion fails: found by the differential fuzzer).
            if next.isEmpty && (best != nil || anchoredAtStart) { break }
            swap(&current, &next)
            i += 1
        }
        return best
    }

    /// The answer and the number of instructions visited, which is at most about 2 × subject × program.
    package func run(_ subject: [Unicode.Scalar]) -> (matched: Bool, steps: Int) {
        var steps = 0
        let matched = run(subject, steps: &steps)
        return (matched, steps)
    }

    private func run(_ subject: [Unicode.Scalar], steps: inout Int) -> Bool {
        let n = subject.count
        var current: [Int] = []
        var next: [Int] = []
        current.reserveCapacity(program.count)
        next.reserveCapacity(program.count)
        var mark = [Int](repeating: -1, count: program.count)
        var generation = 0
        var stack: [Int] = []

        /// Follows jumps, splits and assertions from `pc` at position `i`; true when `.match` is reached.
        func add(_ pc: Int, at i: Int, into list: inout [Int]) -> Bool {
            stack.removeAll(keepingCapacity: true)
            stack.append(pc)
            while let pc = stack.popLast() {
                guard mark[pc] != generation else { continue }
                mark[pc] = generation
                steps += 1
                switch program[pc] {
                case .match: return true
                case .jump(let to): stack.append(to)
                case .save: stack.append(pc + 1)
                case .split(let a, let b):
                    stack.append(b)
                    stack.append(a)
                case .lineStart: if i == 0 { stack.append(pc + 1) }
                case .lineEnd: if i == n { stack.append(pc + 1) }
                case .wordBoundary(let want):
                    let before = i > 0 && Self.isWord(subject[i - 1])
                    let after = i < n && Self.isWord(subject[i])
                    if (before != after) == want { stack.append(pc + 1) }
                case .scalar, .anyButNewline, .set: list.append(pc)
                }
            }
            return false
        }

        generation += 1
        if add(0, at: 0, into: &current) { return true }
        for i in 0..<n {
            let c = subject[i]
            generation += 1
            next.removeAll(keepingCapacity: true)
            for pc in current where accepts(program[pc], c) {
                if add(pc + 1, at: i + 1, into: &next) { return true }
            }
            // A search: a new thread starts at every position, unless the pattern begins with ^.
            if !anchoredAtStart, add(0, at: i + 1, into: &next) { return true }
            swap(&current, &next)
            if current.isEmpty && anchoredAtStart { return false }
        }
        return false
    }

    private func accepts(_ instruction: Instruction, _ c: Unicode.Scalar) -> Bool {
        switch instruction {
        case .scalar(let s):
            return s == c || (caseInsensitive && Self.fold(s) == Self.fold(c))
        case .anyButNewline:
            // Every line break Swift's `.` leaves out, not only CR and LF (found by the differential fuzzer).
            let v = c.value
            return !((0x0A...0x0D).contains(v) || v == 0x85 || v == 0x2028 || v == 0x2029)
        case .set(let items, let negated):
            var hit = Self.contains(items, c)
            if !hit && caseInsensitive {
                hit = Self.contains(items, Self.fold(c)) || Self.contains(items, Self.upper(c))
            }
            return hit != negated
        default:
            return false
        }
    }

    package static func contains(_ items: [ClassItem], _ c: Unicode.Scalar) -> Bool {
        items.contains { item in
            switch item {
            case .range(let lo, let hi): (lo...hi).contains(c.value)
            case .digit(let negated): isDigit(c) != negated
            case .word(let negated): isWord(c) != negated
            case .space(let negated): c.properties.isWhitespace != negated
            }
        }
    }

    package static func isDigit(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal }

    package static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c == "_" || (c.value >= 48 && c.value <= 57) || c.properties.isAlphabetic }
        // As Swift's `Regex` on scalars (found by the differential fuzzer: marks and connector punctuation other
        // than "_" are not word characters there).
        let p = c.properties
        return p.isAlphabetic || p.numericType == .decimal
    }

    package static func fold(_ c: Unicode.Scalar) -> Unicode.Scalar {
        c.properties.lowercaseMapping.unicodeScalars.first ?? c
    }
    package static func upper(_ c: Unicode.Scalar) -> Unicode.Scalar {
        c.properties.uppercaseMapping.unicodeScalars.first ?? c
    }

    // MARK: Parsing

    package struct Parser {
        package var input: ArraySlice<Unicode.Scalar>
        /// Whether the first capturing group was seen: later ones are plain groups.
        package var sawGroup = false

        package mutating func parseAlternation() throws(SyntaxError) -> Node {
            var branches = [try parseConcatenation()]
            while input.first == "|" {
                input.removeFirst()
                branches.append(try parseConcatenation())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        package mutating func parseConcatenation() throws(SyntaxError) -> Node {
            var items: [Node] = []
            while let c = input.first, c != "|", c != ")" {
                var atom = try parseAtom()
                atom = try parseQuantifiers(atom)
                items.append(atom)
            }
            return items.count == 1 ? items[0] : items.isEmpty ? .empty : .concat(items)
        }

        package mutating func parseQuantifiers(_ atom: Node) throws(SyntaxError) -> Node {
            var node = atom
            var quantified = false
            while let c = input.first {
                var bounds: (Int, Int?)?
                switch c {
                case "*": bounds = (0, nil)
                case "+": bounds = (1, nil)
                case "?": bounds = (0, 1)
                case "{": bounds = try braceQuantifier()
                default: break
                }
                guard let (lo, hi) = bounds else { break }
                if c != "{" { input.removeFirst() }
                if quantified {
                    throw SyntaxError(description: "a quantifier follows another (\"\(c)\"); group the first")
                }
                switch node {
                case .lineStart, .lineEnd, .wordBoundary, .empty:
                    throw SyntaxError(description: "\"\(c)\" has nothing to repeat")
                default: break
                }
                quantified = true
                // Possessive `*+` changes the yes/no answer and is not supported; lazy `*?` matters for captures.
                var lazy = false
                if input.first == "?" {
                    input.removeFirst()
                    lazy = true
                } else if input.first == "+" {
                    throw SyntaxError(description: "possessive quantifiers (\"\(c)+\") are not supported")
                }
                node = .repetition(node, min: lo, max: hi, lazy: lazy)
            }
            return node
        }

        /// `{n}`, `{n,}` or `{n,m}` at the front of the input (consumed), or nil (then `{` is a literal). A count
        /// above 1000, or `{m,n}` with m > n, is an error: PCRE and Swift read both as quantifiers, never as text
        /// (`{13413,}` was a literal here until the differential fuzzer said so).
        package mutating func braceQuantifier() throws(SyntaxError) -> (Int, Int?)? {
            guard let close = input.firstIndex(of: "}") else { return nil }
            let body = String(String.UnicodeScalarView(input[input.index(after: input.startIndex)..<close]))
            // Digits and one comma only: `Int` would also read "+5" (`{1,+5}` is a literal to PCRE and Swift; found
            // by the differential fuzzer).
            guard body.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || $0 == "," }) else { return nil }
            let parts = body.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 1 || !parts[1].contains(",") else { return nil }
            // `{,m}` is `{0,m}`, as in Swift's Regex; `{}` and `{,}` are literals to both (and PCRE).
            guard parts[0].isEmpty ? parts.count == 2 && !parts[1].isEmpty : true else { return nil }
            let tooMany = SyntaxError(
                description: "a repeat count above 1000 (\"{\(body)}\") is not supported; use + or * instead"
            )
            let lo: Int
            if parts[0].isEmpty {
                lo = 0
            } else {
                guard let n = Int(parts[0]), n <= 1000 else { throw tooMany }
                lo = n
            }
            var hi: Int? = lo
            if parts.count == 2 {
                if parts[1].isEmpty {
                    hi = nil
                } else {
                    guard let h = Int(parts[1]), h <= 1000 else { throw tooMany }
                    guard h >= lo else {
                        throw SyntaxError(
                            description:
                                "the repeat count \"{\(body)}\" is out of order; write the smaller number first"
                        )
                    }
                    hi = h
                }
            }
            input = input[input.index(after: close)...]
            return (lo, hi)
        }

        package mutating func parseAtom() throws(SyntaxError) -> Node {
            let c = input.removeFirst()
            switch c {
            case ".": return .any
            case "^": return .lineStart
            case "$": return .lineEnd
            case "(":
                var capturing = true
                if input.first == "?" {
                    capturing = false
                    input.removeFirst()
                    if input.first == ":" {
                        input.removeFirst()
                    } else if input.first == "<", let next = input.dropFirst().first, next != "=", next != "!" {
                        // A named group captures like a plain one; its name is of no use here.
                        guard let end = input.firstIndex(of: ">") else {
                            throw SyntaxError(description: "a group name is not closed with \">\"")
                        }
                        input = input[input.index(after: end)...]
                        capturing = true
                    } else if let k = input.first, k == "=" || k == "!" || k == "<" {
                        throw SyntaxError(description: "lookaround (\"(?\(k)\") is not supported")
                    } else {
                        throw SyntaxError(description: "inline options are supported only as a leading (?i)")
                    }
                }
                let first = capturing && !sawGroup
                if first { sawGroup = true }
                let inner = try parseAlternation()
                guard input.first == ")" else { throw SyntaxError(description: "a \"(\" is not closed") }
                input.removeFirst()
                return first ? .firstGroup(inner) : inner
            case ")": throw SyntaxError(description: "unbalanced \")\"")
            case "*", "+", "?": throw SyntaxError(description: "\"\(c)\" has nothing to repeat")
            case "[": return try parseClass()
            case "\\": return try parseEscape(inClass: false).node
            default: return .scalar(c)
            }
        }

        /// An escape after its backslash: a node outside a class, class items inside one.
        package mutating func parseEscape(inClass: Bool) throws(SyntaxError) -> (node: Node, items: [ClassItem]) {
            guard let c = input.popFirst() else { throw SyntaxError(description: "the pattern ends with \"\\\"") }
            func one(_ s: Unicode.Scalar) -> (Node, [ClassItem]) { (.scalar(s), [.range(s.value, s.value)]) }
            switch c {
            case "d", "D": return (.set([.digit(c == "D")], negated: false), [.digit(c == "D")])
            case "w", "W": return (.set([.word(c == "W")], negated: false), [.word(c == "W")])
            case "s", "S": return (.set([.space(c == "S")], negated: false), [.space(c == "S")])
            case "b", "B":
                if inClass {
                    if c == "b" { return one("\u{08}") }
                    throw SyntaxError(description: "\\B is not allowed in a class")
                }
                return (.wordBoundary(c == "b"), [])
            case "t": return one("\t")
            case "n": return one("\n")
            case "r": return one("\r")
            case "f": return one("\u{0C}")
            case "v", "V":
                // Vertical whitespace, as in PCRE and Swift's Regex (not ECMAScript's VT alone; found by the
                // differential fuzzer): LF, VT, FF, CR, NEL, LS, PS.
                let vertical: [ClassItem] = [.range(0x0A, 0x0D), .range(0x85, 0x85), .range(0x2028, 0x2029)]
                if c == "v" { return (.set(vertical, negated: false), vertical) }
                if inClass { throw SyntaxError(description: "\\V is not supported in a class; write [^\\v…]") }
                return (.set(vertical, negated: true), [])
            case "0":
                // `\0` and up to two more octal digits, as PCRE and Swift read it (`\012` is LF, not NUL and "12";
                // found by the differential fuzzer).
                var value: UInt32 = 0
                for _ in 0..<2 {
                    guard let d = input.first, ("0"..."7").contains(d) else { break }
                    value = value * 8 + d.value - 48
                    input.removeFirst()
                }
                // A third digit is where PCRE (two after `\0`) and Swift's Regex and ICU (three) part: `\0000` is NUL
                // and "0" to one, NUL to the other (found by the differential fuzzer). Neither is guessed.
                if let d = input.first, ("0"..."7").contains(d) {
                    throw SyntaxError(
                        description: "\\0 with three octal digits after it reads differently in PCRE and Swift; "
                            + "write \\x{…} for the character"
                    )
                }
                return one(Unicode.Scalar(value)!)
            case "x", "u":
                var digits = ""
                if input.first == "{" {
                    input.removeFirst()
                    while let d = input.first, d != "}" {
                        digits.unicodeScalars.append(d)
                        input.removeFirst()
                    }
                    guard input.popFirst() == "}" else { throw SyntaxError(description: "\\\(c){ is not closed") }
                } else {
                    for _ in 0..<(c == "x" ? 2 : 4) {
                        guard let d = input.popFirst() else { break }
                        digits.unicodeScalars.append(d)
                    }
                }
                // Hex digits only: `UInt32(_:radix:)` also takes a sign, which read `\x+a` as LF (found by the
                // differential fuzzer; PCRE reads `\x` there, then `+`).
                guard !digits.isEmpty, digits.unicodeScalars.allSatisfy(\.properties.isASCIIHexDigit),
                    let v = UInt32(digits, radix: 16), let s = Unicode.Scalar(v)
                else {
                    throw SyntaxError(description: "\\\(c)\(digits) is not a character")
                }
                return one(s)
            case "1"..."9":
                throw SyntaxError(description: "backreferences (\\\(c)) are not supported")
            default:
                if c.properties.isAlphabetic || c.properties.numericType != nil {
                    throw SyntaxError(description: "\\\(c) is not a supported escape")
                }
                return one(c)  // escaped punctuation: \. \\ \/ \- \[ …
            }
        }

        private static func setOperation(_ c: Unicode.Scalar) -> SyntaxError {
            SyntaxError(
                description: "\"\(c)\(c)\" inside a class: escape one of them (class set operations are not supported)"
            )
        }

        package mutating func parseClass() throws(SyntaxError) -> Node {
            var negated = false
            if input.first == "^" {
                negated = true
                input.removeFirst()
            }
            var items: [ClassItem] = []
            var first = true
            while true {
                guard let c = input.popFirst() else { throw SyntaxError(description: "a \"[\" is not closed") }
                if c == "]" && !first { break }
                first = false
                if c == "[" && input.first == ":" {
                    throw SyntaxError(description: "POSIX classes ([:alpha:]) are not supported; use \\w, \\d, \\s")
                }
                // Engines disagree here: Swift and ICU read `[[a-z]x]` as a nested class and `&&`, `--`, `~~` as set
                // operations, PCRE as literals (found by the differential fuzzer). Refused rather than guessed.
                if c == "[" {
                    throw SyntaxError(
                        description: "a \"[\" inside a class: escape it as \\[ (nested classes are not supported)"
                    )
                }
                if "&-~".unicodeScalars.contains(c), input.first == c { throw Self.setOperation(c) }
                let low: UInt32
                if c == "\\" {
                    let (_, escaped) = try parseEscape(inClass: true)
                    guard escaped.count == 1, case .range(let v, _) = escaped[0] else {
                        items += escaped  // \d, \w, \s
                        continue
                    }
                    low = v
                } else {
                    low = c.value
                }
                // A range `a-z`; a `-` first, last or after a range is a literal.
                if input.first == "-", let after = input.dropFirst().first, after != "]" {
                    // Swift reads `x--y`, `x-&&y` and `x-~~y` as `x-` and a set operation, not as a range (found by
                    // the differential fuzzer: `[\x1B--Z]`).
                    if after == "-" { throw Self.setOperation(after) }
                    input.removeFirst()
                    let high: UInt32
                    let h = input.removeFirst()
                    if "&~".unicodeScalars.contains(h), input.first == h { throw Self.setOperation(h) }
                    if h == "\\" {
                        let (_, escaped) = try parseEscape(inClass: true)
                        guard escaped.count == 1, case .range(let v, _) = escaped[0] else {
                            throw SyntaxError(description: "a class range ends in a class escape")
                        }
                        high = v
                    } else {
                        high = h.value
                    }
                    guard low <= high else { throw SyntaxError(description: "a class range is backwards") }
                    items.append(.range(low, high))
                } else {
                    items.append(.range(low, low))
                }
            }
            return .set(items, negated: negated)
        }
    }

    // MARK: Compiling

    package struct Compiler {
        package var program: [Instruction] = []

        package mutating func append(_ i: Instruction) throws(SyntaxError) {
            guard program.count < LinearRegex.maxInstructions else {
                throw SyntaxError(
                    description: "the pattern is too large (over \(LinearRegex.maxInstructions) steps); "
                        + "write large {n,m} counts as a class or a shorter repeat"
                )
            }
            program.append(i)
        }

        package mutating func emit(_ node: Node) throws(SyntaxError) {
            switch node {
            case .empty: break
            case .scalar(let s): try append(.scalar(s))
            case .any: try append(.anyButNewline)
            case .set(let items, let negated): try append(.set(items, negated: negated))
            case .lineStart: try append(.lineStart)
            case .lineEnd: try append(.lineEnd)
            case .wordBoundary(let b): try append(.wordBoundary(b))
            case .concat(let items): for item in items { try emit(item) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (k, branch) in branches.enumerated() {
                    if k < branches.count - 1 {
                        let split = program.count
                        try append(.split(split + 1, -1))
                        try emit(branch)
                        jumps.append(program.count)
                        try append(.jump(-1))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case .firstGroup(let inner):
                try append(.save(0))
                try emit(inner)
                try append(.save(1))
            case .repetition(let inner, let min, let max, let lazy):
                // A split's first branch is preferred: the repeat for a greedy quantifier, the exit for a lazy one.
                func split(_ body: Int, _ exit: Int) -> Instruction { lazy ? .split(exit, body) : .split(body, exit) }
                for _ in 0..<min { try emit(inner) }
                if let max {
                    // Each optional copy: split over it.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(program.count)
                        try append(.split(program.count + 1, -1))
                        try emit(inner)
                    }
                    for s in splits { program[s] = split(s + 1, program.count) }
                } else {
                    let loop = program.count
                    try append(.split(loop + 1, -1))
                    try emit(inner)
                    try append(.jump(loop))
                    program[loop] = split(loop + 1, program.count)
                }
            }
        }
    }
}
