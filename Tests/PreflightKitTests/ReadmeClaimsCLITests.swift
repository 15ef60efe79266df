import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// The README's word, round two (#32, items 9 and 15), through the built binary.
    @Suite struct ReadmeClaimsCLITests {
        static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()

        /// Item 9: `PREFLIGHT_TARGET` set while the file's base URL does not reference it was silently ignored (and
        /// the run fell back to the mock at the file's URL); it warns now, naming `--target`.
        @Test func aTargetVariableTheScenarioIgnoresIsWarnedAbout() async throws {
            let dir = try CLITests.tempDir()
            try await withTestServer(countingRouter()) { port in
                let closed = try await Serial.ProbeTests().closedPort()
                let fixed = try CLITests.write(
                    CLITests.scenario(
                        port: closed,
                        load: #"{ "executor": "per-vu-iterations", "vus": 1, "iterations": 2 }"#,
                        thresholds: "{}"
                    ),
                    to: dir
                )
                let target = "http://127.0.0.1:\(port)"
                let ignored = try await CLITests.preflight(
                    ["run", fixed, "--allow-mock", "--out", "reports", "--quiet"],
                    in: dir,
                    environment: ["PREFLIGHT_TARGET": target]
                )
                #expect(ignored.stderr.contains("PREFLIGHT_TARGET is set (\(target)) but s.json does not reference it"))
                #expect(ignored.stderr.contains("pass --target \(target)"), "\(ignored.stderr)")
                let report = try #require(try CLITests.reports(in: dir).first)
                #expect(report.transport.mode == .mock)
                #expect(report.warnings.contains { $0.hasPrefix("PREFLIGHT_TARGET is set") }, "\(report.warnings)")
                // A file that references it, and --target, say nothing.
                let referencing = try CLITests.write(
                    CLITests.scenario(
                        port: closed,
                        load: #"{ "executor": "per-vu-iterations", "vus": 1, "iterations": 2 }"#,
                        thresholds: "{}"
                    ).replacingOccurrences(of: "http://127.0.0.1:\(closed)", with: "${PREFLIGHT_TARGET}"),
                    to: dir
                )
                let used = try await CLITests.preflight(
                    ["run", referencing, "--out", "reports2", "--quiet"],
                    in: dir,
                    environment: ["PREFLIGHT_TARGET": target]
                )
                #expect(used.status == 0, "\(used.stderr)")
                #expect(!used.stderr.contains("PREFLIGHT_TARGET"))
                let overridden = try await CLITests.preflight(
                    ["run", fixed, "--target", target, "--out", "reports3", "--quiet"],
                    in: dir,
                    environment: ["PREFLIGHT_TARGET": target]
                )
                #expect(overridden.status == 0, "\(overridden.stderr)")
                #expect(!overridden.stderr.contains("PREFLIGHT_TARGET"))
            }
        }

        /// The README's Commands block, as written.
        static func commandsBlock() throws -> String {
            let readme = try String(contentsOf: repo.appendingPathComponent("README.md"), encoding: .utf8)
            let start = try #require(readme.range(of: "## Commands"))
            let open = try #require(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
            let close = try #require(readme.range(of: "```", range: open.upperBound..<readme.endIndex))
            return String(readme[open.upperBound..<close.lowerBound])
        }

        /// Item 15: the Commands block omitted `report --mark-baseline`, `--secret`, and the options of `serve`,
        /// `provider-sim` and `baseline`. Every option each command's `--help` lists is in its entry now.
        @Test(arguments: [
            "demo", "run", "merge", "compare", "drill", "validate", "report", "serve", "provider-sim", "baseline",
        ])
        func everyOptionOfACommandIsInTheReadmesCommandsBlock(_ command: String) async throws {
            let block = try Self.commandsBlock()
            // The command's entry: from its line to the next `preflight ` line.
            let lines = block.split(separator: "\n", omittingEmptySubsequences: false)
            let first = try #require(
                lines.firstIndex { $0.hasPrefix("preflight \(command) ") || $0 == "preflight \(command)" }
            )
            let rest = lines[(first + 1)...]
            let end = rest.firstIndex { $0.hasPrefix("preflight ") } ?? lines.endIndex
            let entry = lines[first..<end].joined(separator: "\n")
            let help = try await CLITests.preflight([command, "--help"], in: try CLITests.tempDir())
            #expect(help.status == 0, "\(help.stderr)")
            let options = try #require(help.stdout.range(of: "OPTIONS:")).upperBound
            var missing: [String] = []
            for line in help.stdout[options...].split(separator: "\n") {
                // Option lines start with the flag, after two spaces: `  --port <port>`, `  -h, --help`.
                let trimmed = line.drop { $0 == " " }
                guard line.hasPrefix("  "), !line.hasPrefix("        "), trimmed.hasPrefix("-") else { continue }
                // The flags and their value names, before the description: `--min-count <min-count> With …`.
                let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "/" })
                    .prefix { $0.hasPrefix("-") || $0.hasPrefix("<") }
                for word in words where word.hasPrefix("--") && word != "--help" && word != "--version" {
                    let flag = String(word)
                    if !entry.contains(flag + " ") && !entry.contains(flag + "]") && !entry.contains(flag + "\n")
                        && !entry.contains(flag + "=") && !entry.hasSuffix(flag)
                    {
                        missing.append(flag)
                    }
                }
            }
            #expect(missing.isEmpty, "README's `preflight \(command)` entry lacks \(missing)\n\(entry)")
        }
    }
}
