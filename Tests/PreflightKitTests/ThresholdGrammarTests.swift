import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Threshold expressions against k6's grammar: whitespace only around the whole expression and the operator,
/// decimal bounds (sign, fraction, exponent; no hex, NaN or Infinity), `===` as `==`, percentiles 0–100.
struct ThresholdGrammarTests {
    /// Expressions k6 accepts, with what they mean here (on a trend metric).
    static let accepted: [(String, ThresholdSpec.Aggregation, ThresholdSpec.Operator, Double)] = [
        ("p(95)<300", .percentile(95), .less, 300),
        (" p(95) < 300 ", .percentile(95), .less, 300),
        ("\tp(95)<300\t", .percentile(95), .less, 300),
        ("p(95)  <=  300", .percentile(95), .lessOrEqual, 300),
        ("p(99.9)<=1.5", .percentile(99.9), .lessOrEqual, 1.5),
        ("p(0)>=0", .percentile(0), .greaterOrEqual, 0),
        ("p(100)<1", .percentile(100), .less, 1),
        ("avg<200", .avg, .less, 200),
        ("med<=100", .med, .lessOrEqual, 100),
        ("min>0", .min, .greater, 0),
        ("max<1000", .max, .less, 1000),
        ("count>=10", .count, .greaterOrEqual, 10),
        ("count==0", .count, .equal, 0),
        ("count===20", .count, .equal, 20),
        ("count!=3", .count, .notEqual, 3),
        ("count>1e3", .count, .greater, 1000),
        ("count>1E-3", .count, .greater, 0.001),
        ("p(95)<+300", .percentile(95), .less, 300),
        ("min>-1.5", .min, .greater, -1.5),
        // k6 reads bounds and percentiles with Go's strconv.ParseFloat: a point with digits on one side only.
        ("count<.5", .count, .less, 0.5),
        ("count>5.", .count, .greater, 5),
        ("avg<-.25", .avg, .less, -0.25),
        ("p(.5)<1", .percentile(0.5), .less, 1),
        ("p(99.)<1", .percentile(99), .less, 1),
    ]

    @Test(arguments: accepted.indices)
    func anExpressionK6AcceptsMeansTheSameHere(_ i: Int) throws {
        let (text, agg, op, bound) = Self.accepted[i]
        let (a, o, b) = try ThresholdSpec.parseExpression(text, kind: .trend).get()
        #expect(a == agg, "\(text)")
        #expect(o == op, "\(text)")
        #expect(b == bound, "\(text)")
    }

    /// Expressions k6 rejects, with the part the message must name.
    static let rejected: [(String, String)] = [
        ("count<1 0", #"unexpected "0" after the bound 1"#),
        ("p(95)<30 0", #"unexpected "0" after the bound 30"#),
        ("co unt<1", #"unknown aggregation "co""#),
        ("p( 95 )<300", #"percentile " 95 " is not a number"#),
        ("p (95)<300", #"unknown aggregation "p""#),
        ("count< =1", #"unexpected "=" after the operator <"#),
        ("count= =1", #"unexpected "=" after the aggregation count"#),
        ("count>0x10", #"unexpected "x" after the bound 0"#),
        ("p(0x10)<1", #"percentile "0x10" is not a number"#),
        ("p(101)<1", "percentile must be within 0–100, got 101"),
        ("p(100.1)<1", "percentile must be within 0–100, got 100.1"),
        ("p(-1)<1", #"percentile "-1" is not a number"#),
        ("foo<=bar", #"unknown aggregation "foo""#),
        ("count<NaN", #"bound "NaN" is not a number"#),
        ("count<Infinity", #"bound "Infinity" is not a number"#),
        ("count<1e999", "bound 1e999 is too large"),
        ("count<.", #"bound "." is not a number"#),
        ("count<-.", #"bound "-." is not a number"#),
        ("p(.)<1", #"percentile "." is not a number"#),
        ("p(95)<", #"bound "" is not a number"#),
        ("p(95)300", #"unexpected "3" after the aggregation p(95)"#),
        ("<300", #"must start with an aggregation, got "<""#),
        ("", "is empty"),
        ("p(95<300", "p( has no closing parenthesis"),
        ("p95<300", #"unknown aggregation "p95""#),
    ]

    @Test(arguments: rejected.indices)
    func anExpressionK6RejectsIsAnErrorNamingTheWrongPart(_ i: Int) {
        let (text, message) = Self.rejected[i]
        switch ThresholdSpec.parseExpression(text, kind: .trend) {
        case .success(let v): Issue.record("\"\(text)\" was accepted as \(v)")
        case .failure(let r): #expect(r.message == message, "\"\(text)\"")
        }
    }

    @Test func theScenarioErrorQuotesTheExpression() {
        guard
            case .failure(let r) = ThresholdSpec.parse(metric: "iterations", expression: "count<1 0", requestNames: nil)
        else {
            Issue.record("accepted")
            return
        }
        #expect(r.message == #"unexpected "0" after the bound 1"#)
    }
}
