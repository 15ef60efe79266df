import Foundation
import PreflightCore

/// `junit.xml`: one `<testsuite>` per run, a `<testcase>` per threshold, one for the transport and one for the
/// run's completion, in the common JUnit shape that Jenkins and GitLab read.
public enum JUnitReport: ReportFormat {
    public static let fileName = "junit.xml"

    public static func render(_ r: Report) -> String {
        var cases: [(name: String, classname: String, failure: (type: String, message: String)?)] = []
        var skipped: [String: String] = [:]
        let suite = "preflight.\(r.scenario.name)"
        let mockedWithoutPermission = r.transport.mode == .mock && r.verdict == .inconclusive && !r.run.interrupted
        cases.append(
            (
                "transport is real", suite,
                mockedWithoutPermission ? ("mock", "the mock transport answered: \(r.transport.reason)") : nil
            )
        )
        // With --allow-mock the run may pass, but the transport was not real: that case is skipped, never passed.
        if r.transport.mode == .mock && !mockedWithoutPermission {
            skipped["transport is real"] = "the mock transport answered (--allow-mock): \(r.transport.reason)"
        }
        cases.append(
            (
                "run completed", suite,
                r.run.interrupted ? ("interrupted", "the run was interrupted; the report is partial") : nil
            )
        )
        for t in r.thresholds {
            let failure: (String, String)? =
                t.ok
                ? nil
                : (
                    "threshold",
                    "observed \(t.observed.map { JSONValue.format($0) } ?? "no data"), expected \(t.expression)"
                )
            if let why = t.skipped { skipped["\(t.metric) \(t.expression)"] = why }
            cases.append(("\(t.metric) \(t.expression)", "\(suite).thresholds", failure))
        }
        let failures = cases.filter { $0.failure != nil }.count
        let skippedCount = cases.filter { skipped[$0.name] != nil && $0.failure == nil }.count
        let time = String(format: "%.3f", r.run.durationSeconds)
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x +=
            "<testsuites name=\"preflight\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" time=\"\(time)\">\n"
        x += "  <testsuite name=\"\(escapeXML(r.scenario.name))\" tests=\"\(cases.count)\" failures=\"\(failures)\" "
        x +=
            "errors=\"0\" skipped=\"\(skippedCount)\" time=\"\(time)\" timestamp=\"\(HumanFormat.date(r.run.startedAt))\">\n"
        x += "    <properties>\n"
        for (k, v) in [
            ("verdict", r.verdict.rawValue), ("transport.mode", r.transport.mode.rawValue),
            ("transport.reason", r.transport.reason),
            ("target", r.target.baseURL), ("seed", String(r.run.seed)), ("scenario.sha256", r.scenario.sha256),
        ] {
            x += "      <property name=\"\(escapeXML(k))\" value=\"\(escapeXML(v))\"/>\n"
        }
        x += "    </properties>\n"
        for c in cases {
            x += "    <testcase name=\"\(escapeXML(c.name))\" classname=\"\(escapeXML(c.classname))\" time=\"0\""
            if let why = skipped[c.name], c.failure == nil {
                x += ">\n      <skipped message=\"\(escapeXML(why))\"/>\n"
                x += "    </testcase>\n"
            } else if let f = c.failure {
                x += ">\n      <failure type=\"\(escapeXML(f.type))\" message=\"\(escapeXML(f.message))\">"
                x += "\(escapeXML(f.message))</failure>\n    </testcase>\n"
            } else {
                x += "/>\n"
            }
        }
        x += "  </testsuite>\n</testsuites>\n"
        return x
    }
}
