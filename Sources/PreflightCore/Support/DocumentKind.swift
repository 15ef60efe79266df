import Foundation

/// What a JSON document in a scenarios folder is, told without validating it: scenario loading skips drills, drill
/// loading picks them, and neither needs the other's loader for that.
public enum DocumentKind {
    /// Whether a file is a drill (its `kind` is `"drill"`), read without validating it.
    public static func isDrill(file: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: file) else { return false }
        // Most files are not drills, and a big one need not be parsed to see that it never says "drill".
        let marker = Array("\"drill\"".utf8)
        let mentionsDrill = data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return false }
            var i = 0
            while i + marker.count <= raw.count {
                guard let hit = memchr(base + i, Int32(UInt8(ascii: "\"")), raw.count - i) else { return false }
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if at + marker.count <= raw.count, memcmp(base + at, marker, marker.count) == 0 { return true }
                i = at + 1
            }
            return false
        }
        guard mentionsDrill, let doc = try? JSONValue.parse(data) else { return false }
        return doc["kind"] == .string("drill")
    }
}
