import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

extension Serial {
    /// Each fixture's `report.html` in a real browser (headless Chromium from Debian, installed by `.ci/run`): it loads
    /// without console errors, its SVG charts are laid out with a non-zero size, and its screenshot is not blank.
    @Suite struct BrowserTests {
        static let chromium = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
        )
        static let pngStats = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/png_stats.py")

        func chromium(_ arguments: [String], profile: URL) async throws -> Finished {
            try await runProcess(
                Self.chromium,
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--user-data-dir=\(profile.path)",
                    "--allow-file-access-from-files", "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0",
                ]
                    + arguments
            )
        }

        @Test(arguments: ["pass", "fail", "mock", "long", "drill", "server"])
        func theReportRendersInChromium(_ name: String) async throws {
            guard FileManager.default.isExecutableFile(atPath: Self.chromium.path) else {
                Issue.record(
                    "Chromium is not installed at \(Self.chromium.path): apt-get install -y chromium (or set CHROMIUM_PATH)"
                )
                return
            }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pf-browser-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let html = HTMLReport.render(try ReportRenderingTests.fixture(name))
            let page = dir.appendingPathComponent("report.html")
            try html.write(to: page, atomically: true, encoding: .utf8)
            // A wrapper page measures the report's charts after layout and writes the sizes into its own DOM.
            let wrapper = dir.appendingPathComponent("measure.html")
            try """
            <!doctype html><html><body><iframe id="f" src="report.html" style="width:1100px;height:3000px;border:0"></iframe>
            <pre id="out">pending</pre><script>
            document.getElementById('f').addEventListener('load', () => {
              const d = document.getElementById('f').contentDocument;
              const sizes = [...d.querySelectorAll('svg.chart')].map(s => {
                const r = s.getBoundingClientRect(); return Math.round(r.width) + 'x' + Math.round(r.height); });
              document.getElementById('out').textContent = 'CHARTS ' + sizes.join(' ') + ' END';
            });
            </script></body></html>
            """.write(to: wrapper, atomically: true, encoding: .utf8)

            let dom = try await chromium(["--dump-dom", wrapper.path], profile: dir.appendingPathComponent("p1"))
            #expect(dom.status == 0, "\(dom.stderr.suffix(2000))")
            let sizes = try #require(dom.stdout.firstMatch(of: /CHARTS ([0-9x ]*) END/)).1.split(separator: " ")
            #expect(sizes.count == html.components(separatedBy: "<svg class=\"chart\"").count - 1)
            #expect(sizes.count >= 3)
            for size in sizes {
                let wh = size.split(separator: "x").compactMap { Int($0) }
                #expect(wh.count == 2 && wh[0] > 100 && wh[1] > 40, "chart size \(size)")
            }
            let console = dom.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
            #expect(console.isEmpty, "console messages: \(console)")

            let shot = dir.appendingPathComponent("shot.png")
            let screenshot = try await chromium(
                ["--window-size=1100,2400", "--screenshot=\(shot.path)", page.path],
                profile: dir.appendingPathComponent("p2")
            )
            #expect(screenshot.status == 0)
            let stats = try await runProcess(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["python3", Self.pngStats.path, shot.path]
            )
            let fields = stats.stdout.split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try #require(fields.count == 4, "png_stats: \(stats.stdout) \(stats.stderr)")
            #expect(fields[2] > 50, "distinct colours \(fields[2])")
            #expect(fields[3] > 0.02, "non-white share \(fields[3])")
        }
    }
}
