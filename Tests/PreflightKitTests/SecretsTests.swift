import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import PreflightCore
@testable import PreflightKit

@Suite struct SecretsTests {
    @Test func aSecretIsMaskedInsideJSONStringsWhileNumbersAndLiteralsStay() throws {
        let secrets = Secrets(["true", "2024", #"s3cr"et\x"#])
        let json = Data(
            #"{"a": true, "n": 2024, "s": "x true y", "k2024": 1, "q": "s3cr\"et\\x!", "u": "\u0074rue"}"#.utf8
        )
        let masked = try JSONValue.parse(secrets.redact(json: json))
        #expect(masked["a"] == .bool(true))
        #expect(masked["n"] == .number(2024))
        #expect(masked["s"] == .string("x *** y"))
        #expect(masked["k***"] == .number(1))
        #expect(masked["q"] == .string("***!"))
        // An escape in the document does not hide the value.
        #expect(masked["u"] == .string("***"))
    }

    @Test func aSecretThatContainsAnotherIsMaskedWhole() {
        let secrets = Secrets(["abcd", "abcdefgh"])
        #expect(secrets.redact("x abcdefgh abcd") == "x *** ***")
    }

    @Test func valuesTooShortToSearchForAreIgnored() {
        let secrets = Secrets(["abc", "", "1"])
        #expect(secrets.isEmpty)
        #expect(secrets.redact("abc 1") == "abc 1")
    }

    @Test func thePercentEncodedFormOfASecretIsMaskedToo() {
        let secrets = Secrets(["a b/c"])
        #expect(secrets.redact("/quote?k=a%20b%2Fc") == "/quote?k=***")
    }

    @Test(arguments: [
        ("API_TOKEN", true), ("db_password", true), ("AWS_SECRET_ACCESS_KEY", true), ("OAuth", true),
        ("apikey", true), ("DURATION", false), ("HOST", false), ("PREFLIGHT_UNIVERSE", false),
    ])
    func variableNamesThatSaySecret(name: String, secret: Bool) {
        #expect(Secrets.nameLooksSecret(name) == secret)
    }

    @Test func credentialHeadersGiveTheirCredentialsAndEachCookieValue() {
        var secrets = Secrets()
        secrets.insert(headerValue: "Bearer tok-123456", name: "Authorization")
        secrets.insert(headerValue: "session=s-998877; theme=dark-mode", name: "Cookie")
        #expect(secrets.redact("token tok-123456 echoed") == "token *** echoed")
        #expect(secrets.redact("cookie s-998877") == "cookie ***")
        #expect(secrets.redact("theme dark-mode") == "theme ***")
        #expect(!secrets.values.contains("Bearer"))
    }

    @Test func theLoggerMasksMessagesAndMetadata() {
        let sink = LogLines()
        var logger = Logger(label: "t") { _ in CapturingLogHandler(sink: sink) }
        logger.logLevel = .debug
        logger = logger.redacting(Secrets(["hunter22"]))
        logger.info("password hunter22", metadata: ["probe.reason": "401 for hunter22", "n": ["a": "hunter22"]])
        let logged = sink.joined
        #expect(logged.contains("password ***"))
        #expect(!logged.contains("hunter22"))
    }

    @Test func theConsoleMasksBothStreams() {
        let text = NIOLockedValueBox("")
        let console = Console(
            out: { line in text.withLockedValue { $0 += line } },
            errRaw: { line in text.withLockedValue { $0 += line } },
            errIsTerminal: false
        ).redacting(Secrets(["hunter22"]))
        console.out("a hunter22")
        console.err("b hunter22")
        #expect(text.withLockedValue { $0 } == "a ***b ***\n")
    }

    static let scenarioWithSecrets = """
        { "name": "s", "target": { "baseURL": "http://127.0.0.1:9", "headers": { "Cookie": "sid=${SID}" } },
          "requests": [ { "name": "q", "path": "/q?k=${API_KEY}", "headers": { "Authorization": "Bearer ${API_TOKEN}" } } ],
          "load": { "executor": "per-vu-iterations" } }
        """

    @Test func aScenarioCollectsTheSecretsItUses() throws {
        let loader = ScenarioLoader(
            variables: ["API_KEY": "key-11112222", "UNUSED_TOKEN": "unused-secret"],
            environment: ["API_TOKEN": "tok-33334444", "SID": "sid-55556666", "OTHER_KEY": "not-referenced"]
        )
        let s = try loader.load(
            data: Data(Self.scenarioWithSecrets.utf8),
            file: "s.json",
            baseDirectory: URL(fileURLWithPath: "/")
        )
        let masked = s.secrets.redact("key-11112222 tok-33334444 sid-55556666 unused-secret not-referenced")
        // A --var with a secret name counts even unused; the environment's other variables are none of the run's business.
        #expect(masked == "*** *** *** *** not-referenced")
    }

    @Test func secretNamesGivenOnTheCommandLineAreMaskedWhateverTheirName() throws {
        let json = """
            { "name": "s", "target": { "baseURL": "http://127.0.0.1:9" },
              "requests": [ { "name": "q", "path": "/q/${ACCOUNT}" } ], "load": { "executor": "per-vu-iterations" } }
            """
        let plain = try ScenarioLoader(environment: ["ACCOUNT": "acct-4471"])
            .load(data: Data(json.utf8), file: "s.json", baseDirectory: URL(fileURLWithPath: "/"))
        #expect(plain.secrets.isEmpty)
        let secret = try ScenarioLoader(environment: ["ACCOUNT": "acct-4471"], secretNames: ["ACCOUNT"])
            .load(data: Data(json.utf8), file: "s.json", baseDirectory: URL(fileURLWithPath: "/"))
        #expect(secret.secrets.redact("/q/acct-4471") == "/q/***")
    }

    @Test func validationProblemsNeverEchoASecret() throws {
        let json = """
            { "name": "run-${API_TOKEN}", "target": { "baseURL": "ftp://host/${API_TOKEN}" },
              "requests": [ { "name": "q", "path": "/q" } ], "load": { "executor": "per-vu-iterations" } }
            """
        let loader = ScenarioLoader(environment: ["API_TOKEN": "tok33334444"])
        let error = #expect(throws: ScenarioError.self) {
            try loader.load(data: Data(json.utf8), file: "s.json", baseDirectory: URL(fileURLWithPath: "/"))
        }
        let text = error?.description ?? ""
        #expect(text.contains("$.name: holds the value of a secret variable"))
        #expect(text.contains("ftp://host/***"))
        #expect(!text.contains("tok33334444"))
    }

    @Test func credentialsInABaseURLAreRefusedWithoutBeingEchoed() throws {
        let json = """
            { "name": "s", "target": { "baseURL": "http://user:pa55word@127.0.0.1:9" },
              "requests": [ { "name": "q", "path": "/q" } ], "load": { "executor": "per-vu-iterations" } }
            """
        let error = #expect(throws: ScenarioError.self) {
            try ScenarioLoader().load(data: Data(json.utf8), file: "s.json", baseDirectory: URL(fileURLWithPath: "/"))
        }
        let text = error?.description ?? ""
        #expect(text.contains(#""http://***@127.0.0.1:9" has credentials in it"#))
        #expect(text.contains("Authorization"))
        #expect(!text.contains("pa55word"))
        #expect(throws: ScenarioError.self) { try TargetURL.override("http://u:pa55word@h:1", file: "s.json") }
    }

    static func reportWithSecret() throws -> Report {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pass.json")
        var report = try ReportReader.decode(Data(contentsOf: fixture))
        report.warnings.append("the server said: invalid token tok-33334444")
        report.requests[0].name = "quote-tok-33334444"
        return report
    }

    static func writtenFiles(_ report: Report, secrets: Secrets) throws -> (Report, [String: String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (folder, written) = try ReportWriter(root: dir).write(report, secrets: secrets)
        var files: [String: String] = [:]
        for name in ["report.json", "report.html", "junit.xml", "summary.md"] {
            files[name] = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
        }
        return (written, files)
    }

    @Test func aReportIsWrittenMaskedInEveryFile() throws {
        let (written, files) = try Self.writtenFiles(Self.reportWithSecret(), secrets: Secrets(["tok-33334444"]))
        #expect(written.requests[0].name == "quote-***")
        #expect(written.warnings.last == "the server said: invalid token ***")
        #expect(written.transport.mode == .real)
        for (name, text) in files {
            #expect(!text.contains("tok-33334444"), "\(name)")
        }
        #expect(files["report.html"]?.contains("quote-***") == true)  // JUnit and the summary name no requests
    }

    @Test func aSecretThatIsAlsoAWordOfTheFormatStillLeavesNoTrace() throws {
        // "real" is transport.mode's value: the masked document no longer decodes as a report, and the rendered
        // files are masked as text instead.
        let (_, files) = try Self.writtenFiles(Self.reportWithSecret(), secrets: Secrets(["tok-33334444", "real"]))
        for (name, text) in files {
            #expect(!text.contains("tok-33334444"), "\(name)")
            #expect(!text.contains("real"), "\(name)")
        }
        let json = try JSONValue.parse(Data(try #require(files["report.json"]).utf8))
        #expect(json["transport"]?["mode"] == .string("***"))
    }
}

/// Every line a `CapturingLogHandler` was given.
final class LogLines: Sendable {
    let lines = NIOLockedValueBox<[String]>([])
    var joined: String { lines.withLockedValue { $0.joined(separator: "\n") } }
}

/// A log handler that keeps every line it is given.
struct CapturingLogHandler: LogHandler {
    let sink: LogLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.lines.withLockedValue { $0.append("\(event.message) \(event.metadata ?? [:])") }
    }
}

extension Serial {
    /// A run and a drill, with secrets in every place a scenario can put them; no output file holds one.
    @Suite struct SecretOutputTests {
        static let token = "tok-5f3a9c1e77"
        static let apiKey = "key-8d2b61aa"
        static let account = "acct-4471"
        static let session = "sess-0c0ffee9"

        /// Every file under `dir` whose bytes contain one of `values`.
        static func filesContaining(_ values: [String], under dir: URL) -> [String] {
            let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)
            var found: [String] = []
            while let url = walker?.nextObject() as? URL {
                guard let data = try? Data(contentsOf: url) else { continue }
                let text = String(decoding: data, as: UTF8.self)
                for v in values where text.contains(v) { found.append("\(url.lastPathComponent): \(v)") }
            }
            return found
        }

        @Test func aRunWritesNoSecretToStdoutStderrLogsOrAnyReportFile() async throws {
            let dir = try CLITests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            try await withTestServer(countingRouter()) { port in
                let json = """
                    { "name": "secrets", "target": { "baseURL": "http://127.0.0.1:\(port)",
                                                     "headers": { "Cookie": "session=${SESSION}" } },
                      "requests": [ { "name": "quote-${ACCOUNT}", "path": "/ok?apikey=${API_KEY}",
                                      "headers": { "Authorization": "Bearer ${API_TOKEN}" },
                                      "checks": [ { "status": 200 },
                                                  { "header": "X-Nope", "equals": "Bearer ${API_TOKEN}" } ] } ],
                      "load": { "executor": "per-vu-iterations", "vus": 2, "iterations": 3 } }
                    """
                let file = try CLITests.write(json, to: dir)
                let run = try await CLITests.preflight(
                    ["run", file, "--var", "API_KEY=\(Self.apiKey)", "--secret", "ACCOUNT"],
                    in: dir,
                    environment: [
                        "API_TOKEN": Self.token, "ACCOUNT": Self.account, "SESSION": Self.session,
                        "PREFLIGHT_LOG_LEVEL": "trace",
                    ]
                )
                #expect(run.status == 99)  // the X-Nope check fails, so the default checks threshold does
                let all = [Self.token, Self.apiKey, Self.account, Self.session]
                #expect(Self.filesContaining(all, under: dir.appendingPathComponent("reports")) == [])
                for v in all {
                    #expect(!run.stdout.contains(v))
                    #expect(!run.stderr.contains(v))
                }
                let report = try #require(try CLITests.reports(in: dir).first)
                #expect(report.requests.first?.name == "quote-***")
                #expect(report.requests.first?.count == 6)
                #expect(report.requests.first?.checkResults.contains { $0.name.contains("${API_TOKEN}") } == true)
                #expect(run.stderr.contains("probe"))  // the trace log was on
            }
        }

        @Test func aDrillMasksSecretsInItsReportAndInItsActionsOutput() async throws {
            let dir = try DrillRunTests.tempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let server = CrashableServer(
                crashFile: dir.appendingPathComponent("crash"),
                downFor: .milliseconds(500),
                buffered: false
            )
            try await withTestServer(server.router) { port in
                let json = """
                    { "kind": "drill", "name": "t", "target": { "baseURL": "http://127.0.0.1:\(port)" },
                      "steadyState": { "probe": { "path": "/readyz", "headers": { "Authorization": "Bearer ${DRILL_TOKEN}" } },
                                       "interval": "100ms", "mustHoldFor": "300ms" },
                      "fault": { "after": "0s", "action": { "run": ["sh", "-c", "echo token ${DRILL_TOKEN}; echo \\"$DRILL_TOKEN\\" >&2; touch '\(dir.path)/crash'"] },
                                 "verifyWithin": "2s" },
                      "recovery": { "healthy": { "consecutiveSuccesses": 2 }, "timeout": "20s" },
                      "objectives": { "rto": "<30s" } }
                    """
                let file = dir.appendingPathComponent("drill.json")
                try json.write(to: file, atomically: true, encoding: .utf8)
                var options = DrillCommandOptions(paths: [file.path])
                options.outDirectory = dir.appendingPathComponent("reports").path
                options.seed = 1
                options.environment["DRILL_TOKEN"] = Self.token
                let text = NIOLockedValueBox("")
                let console = Console(
                    out: { line in text.withLockedValue { $0 += line + "\n" } },
                    errRaw: { line in text.withLockedValue { $0 += line } },
                    errIsTerminal: false
                )
                let sink = LogLines()
                var logger = Logger(label: "t") { _ in CapturingLogHandler(sink: sink) }
                logger.logLevel = .trace
                let status = await DrillCommand(options: options, console: console, logger: logger)
                    .run(control: RunControl())
                #expect(status == .pass)
                let reports = dir.appendingPathComponent("reports")
                #expect(Self.filesContaining([Self.token], under: reports) == [])
                #expect(!text.withLockedValue { $0 }.contains(Self.token))
                #expect(!sink.joined.contains(Self.token))
                // The action's output was there, masked, not deleted.
                let folder = try #require(
                    FileManager.default.contentsOfDirectory(atPath: reports.path).first { $0.hasPrefix("t-") }
                )
                let stdout = try String(
                    contentsOf: reports.appendingPathComponent(folder).appendingPathComponent(
                        "action-fault.stdout.log"
                    ),
                    encoding: .utf8
                )
                #expect(stdout == "token ***\n")
                let report = try ReportReader.decode(
                    Data(contentsOf: reports.appendingPathComponent(folder).appendingPathComponent("report.json"))
                )
                #expect(report.drill?.actions.first?.argv.last?.contains("echo token ***") == true)
            }
        }
    }
}
