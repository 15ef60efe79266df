import Histogram
import Testing

@testable import PreflightCore
@testable import PreflightKit

struct ThresholdTests {
    let names: Set<String> = ["features", "bars"]

    @Test(arguments: [
        ("p(95)<300", ThresholdSpec.Aggregation.percentile(95), ThresholdSpec.Operator.less, 300.0),
        ("p(99.9) <= 1000", .percentile(99.9), .lessOrEqual, 1000),
        ("avg>1.5", .avg, .greater, 1.5),
        ("min>=0", .min, .greaterOrEqual, 0),
        ("med==10", .med, .equal, 10),
        ("max!=0", .max, .notEqual, 0),
        ("count>100", .count, .greater, 100),
    ])
    func trendExpressionsParse(
        _ text: String,
        _ agg: ThresholdSpec.Aggregation,
        _ op: ThresholdSpec.Operator,
        _ bound: Double
    )
        throws
    {
        let t = try ThresholdSpec.parse(
            metric: "http_req_duration{name:features}",
            expression: text,
            requestNames: names
        ).get()
        #expect(t.aggregation == agg)
        #expect(t.op == op)
        #expect(t.bound == bound)
        #expect(t.selector.metric == .httpReqDuration)
        #expect(t.tags == [.init(key: "name", value: "features")])
    }

    @Test func tagsCombine() throws {
        let t = try ThresholdSpec.parse(
            metric: "http_reqs{name:bars,status:200}",
            expression: "count>0",
            requestNames: names
        )
        .get()
        #expect(t.tags == [.init(key: "name", value: "bars"), .init(key: "status", value: "200")])
    }

    @Test(arguments: [
        ("http_req_durations", "p(95)<1", "unknown metric \"http_req_durations\""),
        ("http_req_duration{name:nope}", "p(95)<1", "no request is named \"nope\""),
        ("http_req_duration{group:x}", "p(95)<1", "metric http_req_duration has no tag \"group\""),
        ("http_req_duration{status:abc}", "p(95)<1", "status tag must be an HTTP status code, got \"abc\""),
        ("http_req_duration{name}", "p(95)<1", "has a malformed tag \"name\""),
        ("http_req_duration", "p95<1", "unknown aggregation \"p95\""),
        ("http_req_duration", "p(101)<1", "percentile must be within 0–100, got 101"),
        ("http_req_duration", "p(95)<1s", "unexpected \"s\" after the bound 1"),
        ("http_req_duration", "p(95)", "has no comparison"),
        ("http_req_failed", "avg<1", "aggregation avg does not apply to a rate metric"),
        ("iterations", "p(50)<1", "aggregation p(50) does not apply to a counter metric"),
        ("vus", "rate<1", "aggregation rate does not apply to a gauge metric"),
    ])
    func invalidThresholdsAreRejected(_ metric: String, _ expression: String, _ message: String) {
        switch ThresholdSpec.parse(metric: metric, expression: expression, requestNames: names) {
        case .success: Issue.record("accepted \(metric) \(expression)")
        case .failure(let r): #expect(r.message == message)
        }
    }

    /// 100 requests to `features` (1…100 ms, status 200 except the last 10 at 500) and 10 to `bars` (5 ms).
    func sampleValues() -> MetricValues {
        var m = RunMetrics(checkCounts: [1, 0])
        for i in 1...100 {
            let status = i > 90 ? 500 : 200
            m.requests[0].byStatus[status, default: LatencyPair()].corrected.record(UInt64(i * 1000))
            m.requests[0].byStatus[status, default: LatencyPair()].uncorrected.record(UInt64(i * 100))
            if i <= 95 { m.requests[0].checksPassed[0] += 1 } else { m.requests[0].checksFailed[0] += 1 }
        }
        for _ in 1...10 { m.requests[1].byStatus[200, default: LatencyPair()].corrected.record(5000) }
        m.requests[0].bytesIn = 1000
        m.iterations = 110
        m.droppedIterations = 3
        return MetricValues(metrics: m, requestNames: ["features", "bars"], durationSeconds: 10)
    }

    func observed(_ metric: String, _ expression: String) throws -> Double? {
        let t = try ThresholdSpec.parse(metric: metric, expression: expression, requestNames: names).get()
        return sampleValues().value(for: t)
    }

    @Test func observedValuesComeFromTheRightSubMetric() throws {
        #expect(try observed("http_reqs", "count>0") == 110)
        #expect(try observed("http_reqs", "rate>0") == 11)
        #expect(try observed("http_reqs{name:features,status:500}", "count>0") == 10)
        // HDR histograms keep 3 significant digits: values come back within 0.1 %.
        let close: (Double?, Double) -> Bool = { v, want in v.map { abs($0 - want) <= want * 0.001 } ?? false }
        #expect(close(try observed("http_req_duration{name:features}", "max<1"), 100))
        #expect(close(try observed("http_req_duration{name:features}", "min<1"), 1))
        #expect(close(try observed("http_req_duration{name:features}", "med<1"), 50))
        #expect(close(try observed("http_req_duration{name:features}", "p(90)<1"), 90))
        #expect(close(try observed("http_req_duration{name:features}", "avg<1"), 50.5))
        #expect(try observed("http_req_duration{name:bars}", "p(99)<1") == 5)
        #expect(close(try observed("http_req_duration{status:500}", "min<1"), 91))
        #expect(try observed("http_req_failed", "rate<1") == 10.0 / 110.0)
        #expect(try observed("http_req_failed{name:bars}", "rate<1") == 0)
        #expect(try observed("checks", "rate>0") == 0.95)
        #expect(try observed("iterations", "count>0") == 110)
        #expect(try observed("dropped_iterations", "count<1") == 3)
        #expect(try observed("data_received{name:features}", "count>0") == 1000)
    }

    @Test func aThresholdOnAMetricWithoutDataFails() throws {
        let t = try ThresholdSpec.parse(
            metric: "http_req_duration{status:404}",
            expression: "p(95)<300",
            requestNames: names
        )
        .get()
        let results = ThresholdResult.evaluate([t], values: sampleValues())
        #expect(results == [ThresholdResult(metric: t.metric, expression: t.expression, observed: nil, ok: false)])
    }

    @Test func aCountOverNoDataIsZeroSoCountEqualsZeroCanBeAsserted() throws {
        let t = try ThresholdSpec.parse(
            metric: "http_req_duration{status:404}",
            expression: "count==0",
            requestNames: names
        )
        .get()
        let results = ThresholdResult.evaluate([t], values: sampleValues())
        #expect(results == [ThresholdResult(metric: t.metric, expression: t.expression, observed: 0, ok: true)])
    }

    @Test func eachOperatorDecides() {
        #expect(ThresholdSpec.Operator.less.holds(1, 2) && !ThresholdSpec.Operator.less.holds(2, 2))
        #expect(ThresholdSpec.Operator.lessOrEqual.holds(2, 2) && !ThresholdSpec.Operator.lessOrEqual.holds(3, 2))
        #expect(ThresholdSpec.Operator.greater.holds(3, 2) && !ThresholdSpec.Operator.greater.holds(2, 2))
        #expect(ThresholdSpec.Operator.greaterOrEqual.holds(2, 2) && !ThresholdSpec.Operator.greaterOrEqual.holds(1, 2))
        #expect(ThresholdSpec.Operator.equal.holds(2, 2) && !ThresholdSpec.Operator.equal.holds(1, 2))
        #expect(ThresholdSpec.Operator.notEqual.holds(1, 2) && !ThresholdSpec.Operator.notEqual.holds(2, 2))
    }
}
