import Foundation
import Testing

/// The folders of each library depend one way (#11): a folder may use what a folder below it declares, never the
/// reverse. Read from the sources with a small Swift lexer (comments and string literals skipped, interpolations
/// read as code), so a new upward reference fails here with the file, the name and the folder it belongs to.
@Suite struct LayeringTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The harness, bottom to top: each folder may use the folders before it. The first six are the NIO-free
    /// `PreflightCore` target (the compiler keeps I/O out of them and keeps them from seeing `PreflightKit`); this
    /// check keeps the order inside each target. `Executors` (the executors' configs and state machines) is a layer
    /// of its own below the scenario model that holds their configs.
    static let harnessLayers = [
        "PreflightCore/Support", "PreflightCore/Model", "PreflightCore/Metrics", "PreflightCore/Thresholds",
        "PreflightCore/Executors", "PreflightCore/Scenario", "PreflightKit/Transport", "PreflightKit/Stream",
        "PreflightKit/Load",
        "PreflightKit/Drill", "PreflightKit/Report", "PreflightKit/Command",
    ]

    /// MarketData's four jobs — the API (`HTTP`), the scheduler (`Backfill`), the provider simulator and the
    /// baseline — over shared layers; the scheduler and the simulator know nothing of each other or of the API.
    static let referenceAllowed: [String: Set<String>] = [
        "Support": [],
        "Model": ["Support"],
        "Observability": ["Support", "Model"],
        "Features": ["Support", "Model"],
        "Storage": ["Support", "Model"],
        "Backfill": ["Support", "Model", "Observability", "Storage"],
        "ProviderSimulator": ["Support", "Model"],
        "Baseline": ["Support", "Model", "Storage", "Backfill", "ProviderSimulator"],
        "HTTP": ["Support", "Model", "Observability", "Features", "Storage", "Backfill"],
    ]

    static var harnessAllowed: [String: Set<String>] {
        Dictionary(uniqueKeysWithValues: harnessLayers.enumerated().map { ($1, Set(harnessLayers[..<$0])) })
    }

    @Test func harnessFoldersDependOneWay() throws {
        let violations = try Self.violations(
            in: ["Sources/PreflightCore", "Sources/PreflightKit"],
            allowed: Self.harnessAllowed
        )
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func referenceStackFoldersDependOneWay() throws {
        let violations = try Self.violations(in: ["Sources/MarketData"], allowed: Self.referenceAllowed)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    /// The check itself can fail: an upward reference planted in a copy is found, with its file and owner.
    @Test func anUpwardReferenceIsFound() throws {
        let files = [
            ("Low/A.swift", "struct Low { var x = 1 }\nfunc lowHelper() {}\n"),
            ("High/B.swift", "struct High { let l = Low(); func f() { lowHelper() } }\n"),
            (
                "Low/C.swift",
                ##"""
                // High is only named in this comment, "High" in a string, and /* High */ in a block comment,
                let s = "\(1) High"
                let t = #"High \#(Low()) \(High)"#
                let u = """
                    High \"""
                    """
                let v = "\(High())"
                """##
            ),
        ]
        let found = Self.violations(files: files, allowed: ["Low": [], "High": ["Low"]])
        #expect(found == ["Low/C.swift uses High (declared in High)"])
    }

    // MARK: The check

    /// The files under `folders`, each named by its path below `Sources/` when there are several targets (so a
    /// layer is `PreflightKit/Load`), or below the one folder.
    static func violations(in folders: [String], allowed: [String: Set<String>]) throws -> [String] {
        var files: [(String, String)] = []
        for folder in folders {
            let root = repository.appendingPathComponent(folder)
            let prefix = folders.count > 1 ? root.lastPathComponent + "/" : ""
            let enumerator = try #require(FileManager.default.enumerator(atPath: root.path))
            var count = 0
            while let path = enumerator.nextObject() as? String {
                guard path.hasSuffix(".swift") else { continue }
                count += 1
                files.append(
                    (prefix + path, try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8))
                )
            }
            #expect(count > 5, "sources found in \(folder)")
        }
        let units = Set(files.map { unit(of: $0.0, among: allowed.keys) })
        #expect(units.isSubset(of: Set(allowed.keys)), "every folder has a layer: \(units.subtracting(allowed.keys))")
        return violations(files: files, allowed: allowed)
    }

    /// The folder a file belongs to: the longest layer name that prefixes its path.
    static func unit(of path: String, among layers: some Collection<String>) -> String {
        layers.filter { path.hasPrefix($0 + "/") }.max { $0.count < $1.count }
            ?? String(path.split(separator: "/").first ?? "")
    }

    static func violations(files: [(String, String)], allowed: [String: Set<String>]) -> [String] {
        let scanned = files.map { (path: $0.0, unit: unit(of: $0.0, among: allowed.keys), scan: SwiftScan($0.1)) }
        // Names declared at the top level of a file belong to its folder (the first folder to declare one wins).
        var owner: [String: String] = [:]
        for file in scanned.sorted(by: { $0.path < $1.path }) {
            for name in file.scan.topLevel where owner[name] == nil { owner[name] = file.unit }
        }
        // A name a folder declares itself (at any depth) is its own, whoever else declares it too.
        var ownNames: [String: Set<String>] = [:]
        for file in scanned { ownNames[file.unit, default: []].formUnion(file.scan.declared) }
        var found: [String] = []
        for file in scanned.sorted(by: { $0.path < $1.path }) {
            let mine = ownNames[file.unit] ?? []
            for name in file.scan.identifiers.sorted() where !mine.contains(name) {
                guard let home = owner[name], home != file.unit else { continue }
                if !(allowed[file.unit] ?? []).contains(home) {
                    found.append("\(file.path) uses \(name) (declared in \(home))")
                }
            }
        }
        return found
    }
}

/// The identifiers a Swift file uses in code, and the names it declares (at the top level, and at any depth).
struct SwiftScan {
    private(set) var identifiers: Set<String> = []
    private(set) var topLevel: Set<String> = []
    private(set) var declared: Set<String> = []
    private let bytes: [UInt8]
    private var i = 0
    private var braces = 0
    private var pendingDeclaration = false

    static let declarationKeywords: Set<String> = ["struct", "enum", "class", "protocol", "actor", "typealias", "func"]

    init(_ text: String) {
        bytes = Array(text.utf8)
        scanCode(untilCloseParen: false)
    }

    private func at(_ k: Int) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }

    private static func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    private static func isIdentifierByte(_ b: UInt8) -> Bool { isIdentifierStart(b) || (b >= 0x30 && b <= 0x39) }

    /// Code up to the end, or up to the `)` that closes an interpolation.
    private mutating func scanCode(untilCloseParen: Bool) {
        var parens = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "/") where at(1) == UInt8(ascii: "/"):
                while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where at(1) == UInt8(ascii: "*"):
                skipBlockComment()
            case UInt8(ascii: "#") where at(1) == UInt8(ascii: "\"") || at(1) == UInt8(ascii: "#"):
                var hashes = 0
                while at(0) == UInt8(ascii: "#") {
                    hashes += 1
                    i += 1
                }
                if at(0) == UInt8(ascii: "\"") { scanString(hashes: hashes) }
            case UInt8(ascii: "\""):
                scanString(hashes: 0)
            case UInt8(ascii: "`"):
                i += 1
                let start = i
                while i < bytes.count && bytes[i] != UInt8(ascii: "`") { i += 1 }
                record(String(decoding: bytes[start..<min(i, bytes.count)], as: UTF8.self))
                i += 1
            case _ where Self.isIdentifierStart(b):
                let start = i
                while i < bytes.count && Self.isIdentifierByte(bytes[i]) { i += 1 }
                record(String(decoding: bytes[start..<i], as: UTF8.self))
            case UInt8(ascii: "{"):
                braces += 1
                i += 1
            case UInt8(ascii: "}"):
                braces -= 1
                i += 1
            case UInt8(ascii: "("):
                parens += 1
                i += 1
            case UInt8(ascii: ")"):
                i += 1
                if parens == 0 && untilCloseParen { return }
                parens -= 1
            default:
                i += 1
            }
        }
    }

    private mutating func record(_ name: String) {
        if pendingDeclaration {
            pendingDeclaration = false
            declared.insert(name)
            if braces == 0 { topLevel.insert(name) }
            return
        }
        if Self.declarationKeywords.contains(name) {
            pendingDeclaration = true
            return
        }
        identifiers.insert(name)
    }

    private mutating func skipBlockComment() {
        var depth = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "/") && at(1) == UInt8(ascii: "*") {
                depth += 1
                i += 2
            } else if bytes[i] == UInt8(ascii: "*") && at(1) == UInt8(ascii: "/") {
                depth -= 1
                i += 2
                if depth == 0 { return }
            } else {
                i += 1
            }
        }
    }

    /// A string literal starting at its opening quote, `hashes` `#`s already read; interpolations are code.
    private mutating func scanString(hashes: Int) {
        let multiline = at(1) == UInt8(ascii: "\"") && at(2) == UInt8(ascii: "\"")
        i += multiline ? 3 : 1
        func closesHere(_ s: SwiftScan) -> Int? {
            let quotes = multiline ? 3 : 1
            for k in 0..<quotes where s.at(k) != UInt8(ascii: "\"") { return nil }
            for k in 0..<hashes where s.at(quotes + k) != UInt8(ascii: "#") { return nil }
            return quotes + hashes
        }
        while i < bytes.count {
            if let length = closesHere(self) {
                i += length
                return
            }
            if bytes[i] == UInt8(ascii: "\\") {
                var k = 1
                var ok = true
                for _ in 0..<hashes {
                    if at(k) != UInt8(ascii: "#") { ok = false }
                    k += 1
                }
                if ok && at(k) == UInt8(ascii: "(") {
                    i += k + 1
                    scanCode(untilCloseParen: true)
                    continue
                }
                i += ok && hashes == 0 ? 2 : 1
                continue
            }
            i += 1
        }
    }
}
