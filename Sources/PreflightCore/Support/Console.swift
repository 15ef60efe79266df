import Foundation

/// Where a command's text goes; tests capture it.
public struct Console: Sendable {
    public var out: @Sendable (String) -> Void
    /// Writes to stderr as is (no newline added), for a progress line rewritten in place.
    public var errRaw: @Sendable (String) -> Void
    public var errIsTerminal: Bool

    public init(
        out: @escaping @Sendable (String) -> Void,
        errRaw: @escaping @Sendable (String) -> Void,
        errIsTerminal: Bool
    ) {
        self.out = out
        self.errRaw = errRaw
        self.errIsTerminal = errIsTerminal
    }

    /// Writes a line to stderr.
    public func err(_ line: String) { errRaw(line + "\n") }

    /// Standard output and standard error of this process.
    public static let standard = Console(
        out: { print($0) },
        errRaw: { FileHandle.standardError.write(Data($0.utf8)) },
        errIsTerminal: isatty(2) == 1
    )
}
