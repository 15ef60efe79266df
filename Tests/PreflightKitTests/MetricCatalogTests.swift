import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

@Suite struct MetricCatalogTests {
    /// The catalog drives thresholds, formatting and the report: every load metric must be summarised in a
    /// report.json (`iteration_duration` in a flow's), and its names are k6's.
    @Test func everyLoadMetricIsInTheReportsMetrics() throws {
        let report = try ReportRenderingTests.fixture("pass")
        let flowOnly: Set<String> = [Metric.iterationDuration.rawValue]
        // The fixture predates the timing phases (a report from before them still reads); a new report has them
        // (TimingPhaseTests).
        let phases = Set(Phase.allCases.map(\.metric.rawValue))
        // `capacity` is a capacity search's answer, in its report's `capacity{}` (CapacitySearchTests).
        let searchOnly: Set<String> = [Metric.capacity.rawValue]
        #expect(
            Set(report.metrics.keys).isSuperset(
                of: Set(Metric.load.map(\.rawValue)).subtracting(flowOnly).subtracting(phases).subtracting(searchOnly)
            )
        )
        #expect(report.flow == nil && report.metrics[Metric.iterationDuration.rawValue] == nil)
        #expect(Metric.load.count == 18)
        #expect(!Metric.load.contains(.drillRTO))
    }

    @Test func aSubMetricExpressionNamesItsMetric() {
        #expect(Metric(expression: "http_req_duration{name:features}") == .httpReqDuration)
        #expect(Metric(expression: "checks") == .checks)
        #expect(Metric(expression: "http_req_duraton") == nil)
    }

    @Test func observedValuesAreFormattedInTheirMetricsUnit() {
        func observed(_ metric: String, _ expression: String, _ value: Double) -> String {
            HumanFormat.observed(
                ThresholdResult(metric: metric, expression: expression, observed: value, ok: true)
            )
        }
        #expect(observed("http_req_duration{name:x}", "p(95)<300", 12.34) == "12.3 ms")
        #expect(observed("http_req_duration", "count>10", 42) == "42")
        #expect(observed("drill_rto", "max<30000", 1500) == "1.50 s")
        #expect(observed("http_req_failed", "rate<0.01", 0.005) == "0.50 %")
        #expect(observed("data_received", "rate>0", 2048) == "2.0 kB/s")
        #expect(observed("drill_lost_writes", "count==0", 0) == "0")
    }
}
