import ArgumentParser
import Foundation
import Logging
import PreflightCore
import PreflightKit

/// The `preflight` command tree: argument parsing and wiring only; the work is in PreflightKit.
@main
struct Preflight: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Load-test and validate an HTTP API from declarative JSON scenarios.",
        discussion: """
            Exit codes: 0 every threshold passed against the real target; 99 a threshold failed; \
            3 inconclusive (mock transport without --allow-mock); 2 usage or scenario error, nothing sent; \
            1 internal error; 130 interrupted (a partial report was written).
            Start with: preflight demo
            Shell completions: preflight --generate-completion-script bash|zsh|fish
            """,
        version: PreflightInfo.version,
        subcommands: [
            Demo.self, Run.self, Drill.self, Validate.self, RenderReport.self, Serve.self, ProviderSim.self,
            Baseline.self, Merge.self, Compare.self,
        ]
    )

    /// Parses and runs, with one change to swift-argument-parser's exit codes: a usage error (unknown option, bad
    /// value, missing argument) exits 2 as the exit-code table says, not EX_USAGE (64).
    static func main() async {
        do {
            var command = try parseAsRoot(withDashboardAddress(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// `--dashboard` may stand alone (k6's default address then, 127.0.0.1:5665) or take `HOST:PORT`;
/// swift-argument-parser has no option with an optional value, so a bare one gets the default written after it.
func withDashboardAddress(_ arguments: [String]) -> [String] {
    var out: [String] = []
    for (i, argument) in arguments.enumerated() {
        out.append(argument)
        guard argument == "--dashboard" else { continue }
        let next = i + 1 < arguments.count ? arguments[i + 1] : nil
        if next.flatMap(DashboardSink.address) == nil { out.append(DashboardSink.defaultAddress) }
    }
    return out
}

/// One line on stdout with the address a server listens on (with `--port 0`, the only way to learn the port).
func printListening(_ what: String, host: String, port: Int, scheme: String = "http", note: String = "") {
    let h = host.contains(":") ? "[\(host)]" : host
    // Written straight to the descriptor: stdout may be a pipe, where print's buffer would hold the line back.
    FileHandle.standardOutput.write(Data("\(what): listening on \(scheme)://\(h):\(port)\(note)\n".utf8))
}

/// Logs go to stderr; `PREFLIGHT_LOG_LEVEL` (trace…critical) sets the level, `notice` by default. An unknown level
/// is said once on stderr, not silently ignored.
func makeLogger() -> Logger {
    let raw = ProcessInfo.processInfo.environment["PREFLIGHT_LOG_LEVEL"]
    let parsed = raw.flatMap { Logger.Level(rawValue: $0.lowercased()) }
    if let raw, !raw.isEmpty, parsed == nil {
        FileHandle.standardError.write(
            Data(
                "warning: PREFLIGHT_LOG_LEVEL=\(raw) is not a level (trace, debug, info, notice, warning, error, critical); using notice\n"
                    .utf8
            )
        )
    }
    let level = parsed ?? .notice
    var logger = Logger(label: "preflight") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = level
    return logger
}
