import Foundation
import FoundationXML
import NIOConcurrencyHelpers
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Rendering from fixed `report.json` fixtures (pass, fail, mock, and a 600-bucket long run). Assertions are on
/// content, not on byte-identical output.
struct ReportRenderingTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ name: String) throws -> Report {
        try ReportReader.decode(Data(contentsOf: fixtures.appendingPathComponent("\(name).json")))
    }

    /// Counts of `needle` in `text`.
    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// The `data-points` of each series path in the chart whose title starts with `title`.
    func seriesPoints(_ html: String, chart title: String) -> [String: Int] {
        guard let start = html.range(of: "<title>\(title)") else { return [:] }
        let chart = html[start.lowerBound...].prefix { _ in true }
        let end = chart.range(of: "</svg>")!.lowerBound
        var out: [String: Int] = [:]
        for part in chart[..<end].components(separatedBy: "data-series=\"").dropFirst() {
            let name = String(part.prefix { $0 != "\"" })
            let points = part.components(separatedBy: "data-points=\"")[1].prefix { $0 != "\"" }
            out[name] = Int(points)
        }
        return out
    }

    @Test func aPassingRunHasAGreenBannerAndNoRibbon() throws {
        let r = try Self.fixture("pass")
        let html = HTMLReport.render(r)
        #expect(html.contains("<header class=\"verdict pass\"><div class=\"word\">PASS</div>"))
        #expect(!html.contains("class=\"ribbon\""))
        #expect(!html.contains("<section class=\"mock-warning\">"))
        #expect(count("<tr class=\"ok\">", in: html) == r.thresholds.count)
        for t in r.thresholds {
            #expect(
                html.contains(
                    "<code>\(escapeXML(t.expression))</code></td><td class=\"num\">\(escapeXML(HumanFormat.observed(t)))</td>"
                )
            )
        }
        for q in r.requests { #expect(html.contains("<td><code>\(q.name)</code></td>")) }
        let points = r.timeseries.count
        #expect(
            seriesPoints(html, chart: "Latency percentiles over time") == ["p50": points, "p95": points, "p99": points]
        )
        #expect(
            seriesPoints(html, chart: "Requests and errors per second") == ["requests/s": points, "errors/s": points]
        )
        #expect(seriesPoints(html, chart: "Latency by percentile").keys.sorted() == ["corrected", "uncorrected"])
        #expect(html.contains("<title>Responses by status code</title>"))
        #expect(html.contains("404: "), "the 404s of the `missing` request are listed")
        #expect(html.contains("<dt>Scenario SHA-256</dt><dd>\(r.scenario.sha256)</dd>"))
    }

    @Test func aFailingRunShowsItsFailedThresholds() throws {
        let r = try Self.fixture("fail")
        let html = HTMLReport.render(r)
        #expect(html.contains("<header class=\"verdict fail\"><div class=\"word\">FAIL</div>"))
        let failed = r.thresholds.filter { !$0.ok }
        #expect(!failed.isEmpty)
        #expect(count("<tr class=\"failed\"><td class=\"mark\">✗</td>", in: html) == failed.count)
    }

    @Test func aMockRunCarriesTheRibbonAndTheWarning() throws {
        let r = try Self.fixture("mock")
        let html = HTMLReport.render(r)
        #expect(html.contains("<div class=\"ribbon\" aria-hidden=\"true\">MOCK</div>"))
        #expect(
            html.contains(
                "<section class=\"mock-warning\"><strong>Mock transport.</strong> \(escapeXML(r.transport.reason))"
            )
        )
        #expect(html.contains("<header class=\"verdict inconclusive\">"))
    }

    @Test func aLongRunDrawsEveryBucket() throws {
        let r = try Self.fixture("long")
        #expect(r.timeseries.count == 600)
        let html = HTMLReport.render(r)
        #expect(seriesPoints(html, chart: "Latency percentiles over time")["p99"] == 600)
        #expect(seriesPoints(html, chart: "Requests and errors per second")["requests/s"] == 600)
        // Rendering 600 buckets is measured in the closing note, not asserted here.
    }

    @Test func aDrillReportShowsItsTimelineProbeStripObjectivesAndActions() throws {
        let r = try Self.fixture("drill")
        let d = try #require(r.drill)
        let html = HTMLReport.render(r)
        #expect(html.contains("<h2>Drill</h2>"))
        for e in d.timeline { #expect(html.contains(">\(e.event.rawValue) "), "\(e.event)") }
        // One rectangle per probe in the strip, coloured by its outcome.
        let red = html.components(separatedBy: "fill=\"#cf222e\"/>").count - 1
        let green = html.components(separatedBy: "fill=\"#2da44e\"/>").count - 1
        #expect(red == d.probes.samples.filter { !$0.ok }.count)
        #expect(green == d.probes.samples.filter(\.ok).count)
        for t in d.objectives { #expect(html.contains("<code>\(t.metric)</code>")) }
        for a in d.actions { #expect(html.contains("<td>\(a.kind)</td>")) }
        let index = RunIndex.render([RunIndex.Entry(folder: "d", report: r, problem: nil, date: r.run.startedAt)])
        #expect(index.contains("RTO \(HumanFormat.ms(d.rtoSeconds! * 1000)) · RPO"))
    }

    @Test(arguments: ["pass", "fail", "mock", "long", "drill"])
    func theHTMLReferencesNothingOutside(_ name: String) throws {
        let html = HTMLReport.render(try Self.fixture(name))
        let external = try Regex(
            #"(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import|<script|<link"#
        )
        #expect(html.firstMatch(of: external) == nil)
    }

    @Test(arguments: ["pass", "fail", "mock", "long", "drill"])
    func junitParsesWithTheRightCounts(_ name: String) throws {
        let r = try Self.fixture(name)
        let xml = try XMLDocument(data: Data(JUnitReport.render(r).utf8))
        let suite = try #require(try xml.nodes(forXPath: "/testsuites/testsuite").first as? XMLElement)
        let cases = try xml.nodes(forXPath: "/testsuites/testsuite/testcase")
        let failures = try xml.nodes(forXPath: "/testsuites/testsuite/testcase/failure")
        let expectedFailures = r.thresholds.filter { !$0.ok }.count + (name == "mock" ? 1 : 0)
        #expect(cases.count == r.thresholds.count + 2)
        #expect(failures.count == expectedFailures)
        #expect(suite.attribute(forName: "tests")?.stringValue == String(cases.count))
        #expect(suite.attribute(forName: "failures")?.stringValue == String(expectedFailures))
    }

    @Test func aMockRunAllowedToPassNeverPassesTheTransportCase() throws {
        var r = try Self.fixture("mock")
        r.verdict = .pass  // what --allow-mock with passing thresholds gives
        let xml = try XMLDocument(data: Data(JUnitReport.render(r).utf8))
        let transport = try #require(
            try xml.nodes(forXPath: "//testcase[@name='transport is real']").first as? XMLElement
        )
        #expect(transport.elements(forName: "skipped").count == 1)
        #expect(transport.elements(forName: "failure").isEmpty)
        let suite = try #require(try xml.nodes(forXPath: "/testsuites/testsuite").first as? XMLElement)
        #expect(suite.attribute(forName: "skipped")?.stringValue == "1")
    }

    @Test func markdownSummarisesVerdictModeAndThresholds() throws {
        let mock = MarkdownSummary.render(try Self.fixture("mock"))
        #expect(mock.hasPrefix("## ⚠️ INCONCLUSIVE — fixture-mock"))
        #expect(mock.contains("**MOCK TRANSPORT**"))
        let fail = try Self.fixture("fail")
        let md = MarkdownSummary.render(fail)
        #expect(md.hasPrefix("## ❌ FAIL"))
        for t in fail.thresholds { #expect(md.contains("| \(t.ok ? "✅" : "❌") | `\(t.metric) \(t.expression)` |")) }
        #expect(md.contains("| `features` |"))
    }

    @Test func theIndexListsRunsNewestFirstAndSurvivesBrokenFolders() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pf-index-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for name in ["pass", "fail", "mock"] {
            let folder = root.appendingPathComponent("run-\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).json"))
                .write(to: folder.appendingPathComponent("report.json"))
        }
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("run-empty-20261129T110502Z"),
            withIntermediateDirectories: true
        )
        // A sibling that is no run folder (`--out .` in a project) is not listed at all.
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("Sources"),
            withIntermediateDirectories: true
        )
        let garbage = root.appendingPathComponent("run-garbage")
        try FileManager.default.createDirectory(at: garbage, withIntermediateDirectories: true)
        try Data("{ not json".utf8).write(to: garbage.appendingPathComponent("report.json"))
        try RunIndex.write(root: root)
        let html = try String(contentsOf: root.appendingPathComponent("index.html"), encoding: .utf8)
        let dated = try ["pass", "fail", "mock"].map { ($0, try Self.fixture($0).run.startedAt) }
        let newestFirst = dated.sorted { $0.1 > $1.1 }.map { "run-\($0.0)/report.html" }
        let positions = newestFirst.map { html.range(of: $0)!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(count("INCOMPLETE", in: html) == 2)
        #expect(html.contains("run-empty-20261129T110502Z (no report.json)"))
        #expect(!html.contains("Sources"))
        #expect(html.contains("<span class=\"mock\">MOCK</span>"))
    }

    /// #32, item 13: the baseline limits table showed "30", "58" without units and the regression row "95.8"
    /// without %; the run parameters broke mid-word.
    @Test func theBaselineTableAndTheRegressionRowCarryTheirUnits() throws {
        var r = try Self.fixture("pass")
        let name = "regression{http_req_duration:p(95)}"
        var comparison = ComparisonSection(rows: [], baseline: r, path: "reports/base")
        comparison.rows = [
            .init(
                name: name,
                baseline: 30,
                new: 58.74,
                changePercent: 95.8,
                signedChangePercent: 95.8,
                direction: "worse",
                limitPercent: 10,
                outcome: "regression"
            ),
            .init(
                name: "regression{http_reqs:count}",
                baseline: 1200,
                new: 400,
                changePercent: 66.67,
                signedChangePercent: -66.67,
                direction: "worse",
                limitPercent: 10,
                outcome: "regression"
            ),
        ]
        r.comparison = comparison
        r.thresholds.append(ThresholdResult(metric: name, expression: "change<=10%", observed: 95.8, ok: false))
        let html = HTMLReport.render(r)
        #expect(html.contains("<td>30.0 ms</td><td>58.7 ms</td>"), "the limits table in the metric's unit")
        #expect(html.contains("+95.8 % (worse)"))
        #expect(html.contains("-66.7 % (worse)"))
        #expect(html.contains(">+95.8 %<"), "the regression threshold's observed change")
        #expect(!html.contains(">95.8<"))
        #expect(!html.contains("word-break: break-all"), "the parameters table breaks between words")
    }

    /// #32, item 13: `index.html` explained BASELINE when nothing was marked, and wrapped the mark command at `--`.
    @Test func theIndexExplainsTheBaselineMarkOnlyWhenOneIsShown() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pf-index-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("run-pass")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(contentsOf: Self.fixtures.appendingPathComponent("pass.json"))
            .write(to: folder.appendingPathComponent("report.json"))
        try RunIndex.write(root: root)
        let html = try String(contentsOf: root.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(!html.contains("A run marked"))
        #expect(html.contains("No run is marked as the baseline"))
        #expect(html.contains("<code class=\"cmd\">preflight report run-pass --mark-baseline</code>"))
        #expect(html.contains("code.cmd { white-space: nowrap; }"))
    }

    /// #26, item 7: the timeline's labels overlapped where fault, detection and verification fall within a second.
    @Test func timelineLabelsTakeTheFirstRowWhereTheyOverlapNothing() {
        let rows = HTMLReport.labelRows([0...100, 50...150, 120...200, 160...260, 300...400, 99...101])
        #expect(rows == [0, 1, 0, 1, 0, 2])
        // Every placed pair in one row is apart.
        let spans: [ClosedRange<Double>] = (0..<10).map { i in Double(i * 7)...Double(i * 7 + 90) }
        let placed = HTMLReport.labelRows(spans)
        for i in spans.indices {
            for j in spans.indices where i < j && placed[i] == placed[j] { #expect(!spans[i].overlaps(spans[j])) }
        }
    }

    /// #26, item 7: a drill's load charts used the background load's clock under a timeline on the drill's.
    @Test func aDrillsLoadChartsShareTheTimelinesClock() throws {
        let r = try Self.fixture("drill")
        let offset = try #require(r.drill?.backgroundOffsetSeconds)
        #expect(offset > 0)
        let html = HTMLReport.render(r)
        #expect(html.components(separatedBy: "seconds since the drill started").count - 1 >= 3, "timeline + 2 charts")
        #expect(!html.contains(">seconds since start<"))
    }

    @Test func aThresholdWithoutDataIsWrittenWithObservedNull() throws {
        let t = ThresholdResult(
            metric: "http_req_duration{status:404}",
            expression: "p(95)<1",
            observed: nil,
            ok: false
        )
        let json = String(decoding: try ReportWriter.encoder().encode(t), as: UTF8.self)
        #expect(json.contains(#""observed" : null"#))
        let back = try ReportWriter.decoder().decode(ThresholdResult.self, from: Data(json.utf8))
        #expect(back == t)
    }

    @Test func aReportFromAFutureSchemaIsRefused() throws {
        var doc = try JSONValue.parse(Data(contentsOf: Self.fixtures.appendingPathComponent("pass.json")))
        if case .object(var o) = doc {
            o["schema"] = .string("preflight.report/v2")
            doc = .object(o)
        }
        #expect(throws: ReportReader.VersionError.self) { _ = try ReportReader.decode(try JSONEncoder().encode(doc)) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pf-v2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("report.json")
        try JSONEncoder().encode(doc).write(to: file)
        let errors = ErrorLines()
        let console = Console(out: { _ in }, errRaw: { errors.append($0) }, errIsTerminal: false)
        #expect(ReportCommand(path: file.path, outDirectory: nil, console: console).run() == .usage)
        #expect(errors.text.contains("this report is preflight.report/v2"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.html").path))
    }

    @Test func theReportCommandRerendersEveryFormat() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pf-rerender-\(UUID().uuidString)")
        let folder = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(contentsOf: Self.fixtures.appendingPathComponent("fail.json")).write(
            to: folder.appendingPathComponent("report.json")
        )
        let console = Console(out: { _ in }, errRaw: { _ in }, errIsTerminal: false)
        #expect(
            ReportCommand(path: folder.appendingPathComponent("report.json").path, outDirectory: nil, console: console)
                .run() == .pass
        )
        for file in ["report.html", "junit.xml", "summary.md"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path))
        }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("index.html").path))
        // The run folder itself, as the README's Commands block says (with a trailing slash, as a shell completes it).
        try FileManager.default.removeItem(at: folder.appendingPathComponent("report.html"))
        #expect(ReportCommand(path: folder.path + "/", outDirectory: nil, console: console).run() == .pass)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("report.html").path))
    }
}

/// Collects stderr text from a `Console` in tests.
final class ErrorLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    func append(_ s: String) { lines.withLockedValue { $0.append(s) } }
    var text: String { lines.withLockedValue { $0.joined() } }
}
