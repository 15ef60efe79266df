import Foundation
import Hummingbird
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// `target.metrics`: the exposition parser, the series computed from scrapes, and the scenario block.
@Suite struct ServerViewTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/exposition.txt")

    @Test func theExpositionFixtureParsesEveryTypeLabelEscapeAndSpecialValue() throws {
        let e = try PrometheusExposition.parse(String(contentsOf: Self.fixture, encoding: .utf8))
        #expect(e.types["http_requests_total"] == "counter")
        #expect(e.types["queue_depth"] == "gauge")
        #expect(e.types["http_request_duration_seconds"] == "histogram")
        #expect(e.types["rpc_duration_seconds"] == "summary")
        #expect(e.samples.count == 20)
        let posts = e.samples.filter { $0.name == "http_requests_total" }
        #expect(posts.map(\.value) == [1027, 3])
        #expect(posts[1].labels == ["method": "post", "code": "400"])
        let dos = try #require(e.samples.first { $0.name == "msdos_file_access_time_seconds" })
        #expect(dos.labels["path"] == #"C:\DIR\FILE.TXT"#)
        #expect(dos.labels["error"] == "Cannot find file:\n\"FILE.TXT\"")
        #expect(dos.value == 1.458255915e9)
        #expect(e.samples.first { $0.name == "something_weird" }?.value == .infinity)
        #expect(e.samples.first { $0.labels["queue"] == "a" }?.value == 7, "a trailing comma in a label set")
        #expect(e.samples.first { $0.labels["queue"] == "b" }?.value.isNaN == true, "spaces around = and NaN")
        let inf = try #require(e.samples.first { $0.labels["le"] == "+Inf" })
        #expect(inf.value == 144320)
        #expect(e.samples.first { $0.name == "rpc_duration_seconds_sum" }?.value == 1.7560473e+07)
    }

    @Test(arguments: [
        ("a{b=\"c\" 1", "expected , or } after label b"),
        ("a{b=c} 1", "label b's value needs quotes"),
        ("a{b=\"c\"}", "expected a space and a value after a"),
        ("a 1x", "\"1x\" is not a value"),
        ("a 1 12.5", "\"12.5\" is not a timestamp"),
        ("a{b=\"1\",b=\"2\"} 1", "label b appears twice"),
        ("9a 1", "expected a metric name"),
        ("# TYPE a flavour", "a # TYPE line needs a metric name and a known type"),
        ("a{b=\"\\", "a lone \\ ends label b's value"),
    ])
    func aBrokenLineIsAnErrorNamingTheLine(text: String, message: String) {
        #expect {
            try PrometheusExposition.parse("ok 1\n\(text)\n")
        } throws: { error in
            let e = error as? PrometheusExposition.ParseError
            return e?.line == 2 && (e?.message.contains(message) ?? false)
        }
    }

    @Test func selectorsParseMatchAndPrintBack() throws {
        let s = try SeriesSelector.parse(#"http_requests_total{route="/a/{id}",code="200"}"#).get()
        #expect(s.name == "http_requests_total")
        #expect(s.matchers == ["route": "/a/{id}", "code": "200"])
        #expect(
            s.matches(
                .init(name: "http_requests_total", labels: ["route": "/a/{id}", "code": "200", "m": "GET"], value: 1)
            )
        )
        #expect(!s.matches(.init(name: "http_requests_total", labels: ["route": "/a/{id}"], value: 1)))
        #expect(s.description == #"http_requests_total{code="200",route="/a/{id}"}"#)
        #expect(throws: PrometheusExposition.ParseError.self) { try SeriesSelector.parse("a{b=\"c\"} extra").get() }
        #expect(throws: PrometheusExposition.ParseError.self) { try SeriesSelector.parse("{b=\"c\"}").get() }
    }

    static func scrape(_ t: Double, _ text: String) throws -> ServerScrape {
        ServerScrape(t: t, exposition: try PrometheusExposition.parse(text))
    }

    static func histogram(_ counts: [Double]) -> String {
        // Cumulative buckets at 0.01, 0.1, 1, +Inf seconds.
        zip(["0.01", "0.1", "1", "+Inf"], counts).map { "lat_bucket{le=\"\($0)\"} \($1)" }.joined(separator: "\n")
    }

    @Test func seriesAreComputedPerIntervalAndOverTheWholeRun() throws {
        let spec = ServerMetricsSpec(
            url: "/metrics",
            interval: 1,
            series: [
                .init(name: "rps", kind: .rate(try SeriesSelector.parse("req_total").get())),
                .init(name: "depth", kind: .gauge(try SeriesSelector.parse("depth").get())),
                .init(
                    name: "hit_ratio",
                    kind: .ratio(
                        try SeriesSelector.parse(#"cache_total{result="hit"}"#).get(),
                        try SeriesSelector.parse("cache_total").get()
                    )
                ),
                .init(name: "p50_ms", kind: .quantile(0.5, try SeriesSelector.parse("lat").get()), scale: 1000),
            ]
        )
        let scrapes = [
            try ServerViewTests.scrape(
                0,
                "req_total{code=\"200\"} 100\nreq_total{code=\"500\"} 0\ndepth 1\ncache_total{result=\"hit\"} 10\n"
                    + "cache_total{result=\"miss\"} 10\n" + Self.histogram([0, 0, 0, 0])
            ),
            try ServerViewTests.scrape(
                1,
                "req_total{code=\"200\"} 290\nreq_total{code=\"500\"} 10\ndepth 4\ncache_total{result=\"hit\"} 100\n"
                    + "cache_total{result=\"miss\"} 20\n" + Self.histogram([0, 100, 100, 100])
            ),
            ServerScrape(t: 1.5, exposition: nil, error: "/metrics: HTTP 503"),
            // The server restarted: its counters began again.
            try ServerViewTests.scrape(
                2,
                "req_total{code=\"200\"} 50\ndepth 2\ncache_total{result=\"hit\"} 45\ncache_total{result=\"miss\"} 5\n"
                    + Self.histogram([0, 0, 50, 50])
            ),
        ]
        let s = ServerSection.compute(spec, url: "http://127.0.0.1/metrics", scrapes: scrapes)
        #expect(s.scrapes == 4)
        #expect(s.failedScrapes == 1)
        #expect(s.errors == ["/metrics: HTTP 503"])
        let byName = Dictionary(uniqueKeysWithValues: s.series.map { ($0.name, $0) })
        #expect(byName["rps"]?.points == [[1, 200], [2, 50]], "a counter that went down was reset")
        #expect(byName["rps"]?.value == 25, "(50 − 0 after the reset) / 2 s over the run: first to last scrape")
        #expect(byName["depth"]?.points == [[0, 1], [1, 4], [2, 2]])
        #expect(byName["depth"]?.value == 2)
        #expect(byName["depth"]?.max == 4)
        let ratio = try #require(byName["hit_ratio"]?.points)
        #expect(ratio[0] == [1, 0.9])  // (100−10)/(120−20)
        #expect(ratio[1] == [2, 0.9])  // after the reset: 45 hits of 50 lookups
        // p50 of 100 observations all in (0.01, 0.1]: 0.01 + 0.09 × 50/100 = 0.055 s.
        let p50 = try #require(byName["p50_ms"]?.points.first?[1])
        #expect(abs(p50 - 55) < 1e-9)
        #expect(byName["p50_ms"]?.points.count == 2)
    }

    @Test func histogramQuantileMatchesPromQL() {
        let buckets: [(le: Double, count: Double)] = [
            (0.05, 24054), (0.1, 33444), (0.2, 100392), (0.5, 129389),
            (1, 133988), (.infinity, 144320),
        ]
        // histogram_quantile(0.5, …) = 0.1 + (0.2 − 0.1) × (72160 − 33444) / (100392 − 33444)
        let q = ServerSection.quantile(0.5, buckets)
        #expect(abs((q ?? 0) - (0.1 + 0.1 * (72160 - 33444) / (100392 - 33444))) < 1e-12)
        #expect(ServerSection.quantile(0.99, buckets) == 1, "a rank in +Inf answers the highest finite bound")
        #expect(ServerSection.quantile(0.5, [(1, 0), (.infinity, 0)]) == nil)
    }
}

/// The `target.metrics` block and `server{NAME}` thresholds, as a scenario declares them.
@Suite struct ServerMetricsScenarioTests {
    static func load(
        _ metrics: String,
        thresholds: String = #"{ "http_req_failed": ["rate<0.01"] }"#
    ) throws(ScenarioError) -> Scenario {
        let json = """
            { "name": "s", "target": { "baseURL": "http://127.0.0.1:8000", "metrics": \(metrics) },
              "requests": [ { "name": "r", "path": "/" } ],
              "load": { "executor": "constant-vus", "vus": 1, "duration": "1s" }, "thresholds": \(thresholds) }
            """
        return try ScenarioLoader(variables: [:], environment: [:])
            .load(data: Data(json.utf8), file: "s.json", baseDirectory: URL(fileURLWithPath: "/tmp"))
    }

    static func problems(_ metrics: String, thresholds: String = #"{ "http_req_failed": ["rate<0.01"] }"#) -> [String] {
        do {
            _ = try load(metrics, thresholds: thresholds)
            return []
        } catch {
            return error.problems.map { "\($0.path): \($0.message)" }
        }
    }

    @Test func aValidBlockLoadsWithItsDefaults() throws {
        let s = try Self.load(
            #"{ "url": "/metrics", "series": [ { "name": "hits", "ratio": ["a_total{r=\"hit\"}", "a_total"] }, { "name": "p99", "histogram": "lat_seconds", "quantile": 0.99, "scale": 1000 } ] }"#,
            thresholds: #"{ "server{hits}": ["value>0.9"], "server{p99}": ["max<250", "avg<100"] }"#
        )
        let m = try #require(s.target.metrics)
        #expect(m.url == "/metrics")
        #expect(m.interval == 1)
        #expect(m.series.map(\.name) == ["hits", "p99"])
        #expect(m.series[1].scale == 1000)
        #expect(m.series[1].kind == .quantile(0.99, SeriesSelector(name: "lat_seconds")))
        #expect(s.thresholds.filter { $0.selector.isServer }.count == 3)
    }

    @Test(arguments: [
        (#"{ "series": [ { "name": "a", "rate": "x" } ] }"#, "$.target.metrics.url: is required"),
        (#"{ "url": "metrics", "series": [ { "name": "a", "rate": "x" } ] }"#, "must be a path starting with /"),
        (#"{ "url": "/m", "interval": "10ms", "series": [ { "name": "a", "rate": "x" } ] }"#, "at least 100ms"),
        (#"{ "url": "/m", "series": [] }"#, "must name at least one series"),
        (#"{ "url": "/m", "series": [ { "name": "a" } ] }"#, "needs one of rate, gauge, ratio, histogram"),
        (#"{ "url": "/m", "series": [ { "name": "a", "rate": "x", "gauge": "y" } ] }"#, "has rate and gauge; pick one"),
        (#"{ "url": "/m", "series": [ { "name": "a", "histogram": "h" } ] }"#, "quantile: is required"),
        (#"{ "url": "/m", "series": [ { "name": "a", "rate": "x{y=1}" } ] }"#, "is not a selector"),
        (#"{ "url": "/m", "series": [ { "name": "a", "ratio": ["x"] } ] }"#, "must be [numerator, denominator]"),
        (#"{ "url": "/m", "series": [ { "name": "A-b", "rate": "x" } ] }"#, "must be lower-case letters"),
        (
            #"{ "url": "/m", "series": [ { "name": "a", "rate": "x" }, { "name": "a", "gauge": "y" } ] }"#,
            "repeats the name"
        ),
        (#"{ "url": "/m", "series": [ { "name": "a", "rate": "x", "quantile": 0.5 } ] }"#, "is only for a histogram"),
        (#"{ "url": "/m", "series": [ { "name": "a", "rate": "x", "colour": 1 } ] }"#, "unknown key"),
    ])
    func aBadBlockNamesThePlaceAndTheFix(metrics: String, message: String) {
        let found = Self.problems(metrics)
        #expect(found.contains { $0.contains(message) }, "\(found)")
    }

    @Test func aServerThresholdMustNameADeclaredSeriesAndAnAggregationThatApplies() {
        let block = #"{ "url": "/m", "series": [ { "name": "hits", "rate": "x" } ] }"#
        let unknown = Self.problems(block, thresholds: #"{ "server{hit}": ["value>1"] }"#)
        #expect(unknown.contains { $0.contains("target.metrics has no series \"hit\"") }, "\(unknown)")
        #expect(
            Self.problems(block, thresholds: #"{ "server{hits}": ["p(95)<1"] }"#)
                .contains { $0.contains("does not apply to a server metric") }
        )
        #expect(Self.problems(block, thresholds: #"{ "server{hits}": ["rate>1", "min>0"] }"#).isEmpty)
    }

    @Test func aServerThresholdFailsWithoutDataAndHoldsOnTheWholeRunValue() throws {
        let t = try ThresholdSpec.parse(metric: "server{hits}", expression: "value>0.9", requestNames: nil).get()
        let empty = MetricValues(metrics: RunMetrics(checkCounts: []), requestNames: [], durationSeconds: 1)
        #expect(ThresholdResult.evaluate([t], values: empty).first?.ok == false, "no scrape, no data: it fails")
        var section = ServerSection.skipped(
            ServerMetricsSpec(url: "/m", interval: 1, series: [.init(name: "hits", kind: .rate(.init(name: "x")))]),
            url: "/m",
            note: "n"
        )
        section.series[0].value = 0.95
        var withServer = empty
        withServer.server = section
        let result = try #require(ThresholdResult.evaluate([t], values: withServer).first)
        #expect(result.ok)
        #expect(result.observed == 0.95)
    }

    /// #32, item 1: a selector that matches nothing, or only NaN, is no data — never a 0 that passes `max==0`.
    @Test func aSelectorThatMatchesNothingOrOnlyNaNIsNoDataNotZero() throws {
        let gauge = { (name: String, selector: String) in
            ServerSeriesSpec(name: name, kind: .gauge(try SeriesSelector.parse(selector).get()))
        }
        let spec = ServerMetricsSpec(
            url: "/metrics",
            interval: 1,
            series: [
                try gauge("missing", "backfill_consecutive_failures"),
                try gauge("nan", "depth_nan"),
                try gauge("typo", "http_requests_in_flite"),
                .init(name: "rate_missing", kind: .rate(try SeriesSelector.parse("nothing_total").get())),
                .init(
                    name: "ratio_missing",
                    kind: .ratio(
                        try SeriesSelector.parse("absent_total").get(),
                        try SeriesSelector.parse("req_total").get()
                    )
                ),
                try gauge("present", "depth"),
            ]
        )
        let text = "req_total 10\ndepth 3\ndepth_nan NaN\nhttp_requests_in_flight 1\n"
        let scrapes = try [0.0, 1, 2].map { try ServerViewTests.scrape($0, text) }
        let s = ServerSection.compute(spec, url: "http://127.0.0.1/metrics", scrapes: scrapes)
        let byName = Dictionary(uniqueKeysWithValues: s.series.map { ($0.name, $0) })
        for name in ["missing", "nan", "typo", "rate_missing", "ratio_missing"] {
            let series = try #require(byName[name])
            #expect(series.value == nil && series.max == nil && series.points.isEmpty, "\(name): \(series)")
            #expect(series.noData != nil, "\(name) says why it has no data")
        }
        #expect(byName["typo"]?.noData?.contains("closest series scraped: http_requests_in_flight") == true)
        #expect(byName["nan"]?.noData?.contains("only NaN") == true)
        #expect(byName["ratio_missing"]?.noData?.hasPrefix("absent_total matched no sample") == true)
        #expect(byName["present"]?.value == 3)
        #expect(byName["present"]?.noData == nil)
        let values = MetricValues(
            metrics: RunMetrics(checkCounts: []),
            requestNames: [],
            durationSeconds: 2,
            server: s
        )
        let t = try ThresholdSpec.parse(metric: "server{missing}", expression: "max==0", requestNames: nil).get()
        let result = try #require(ThresholdResult.evaluate([t], values: values).first)
        #expect(!result.ok)
        #expect(result.observed == nil)
    }

    /// #32, item 6: the final scrape comes just after the last answer; the few milliseconds after the scrape before
    /// it join the interval before, instead of reading as a rate of 0.
    @Test func aShortLastIntervalJoinsTheOneBeforeIt() throws {
        let spec = ServerMetricsSpec(
            url: "/metrics",
            interval: 1,
            series: [.init(name: "rps", kind: .rate(try SeriesSelector.parse("req_total").get()))]
        )
        // 100 requests a second for 5 s; a scrape at 5.001 s, then the final one at 5.004 s with nothing new.
        var scrapes = try (0...5).map { try ServerViewTests.scrape(Double($0), "req_total \($0 * 100)\n") }
        scrapes[5].t = 5.001
        scrapes.append(try ServerViewTests.scrape(5.004, "req_total 500\n"))
        let rps = try #require(ServerSection.compute(spec, url: "/m", scrapes: scrapes).series.first)
        #expect(rps.points.count == 5)
        #expect(try #require(rps.min) > 99, "\(rps.points)")
        #expect(abs(try #require(rps.avg) - 100) < 0.2)
        #expect(rps.points.last?[0] == 5.004, "the merged interval ends at the final scrape")
        // An interval of half the scrape interval or more stays on its own.
        var longTail = scrapes
        longTail[6].t = 5.6
        #expect(ServerSection.compute(spec, url: "/m", scrapes: longTail).series[0].points.count == 6)
    }
}

extension Serial {
    @Suite struct ServerScraperTests {
        /// A scrape the run's end cancels in flight is not the server's failure: it is not recorded (the final
        /// scrape follows at once). It was counted as a failed scrape whenever a tick met the end.
        @Test func aScrapeCancelledByTheRunsEndIsNotAFailedScrape() async throws {
            let router = Router()
            router.get("metrics") { _, _ -> String in
                try await Task.sleep(for: .seconds(1))
                return "up 1\n"
            }
            try await withTestServer(router) { port in
                let target = Target(
                    baseURL: TargetURL(scheme: "http", host: "127.0.0.1", port: port, basePath: ""),
                    headers: []
                )
                let spec = ServerMetricsSpec(
                    url: "/metrics",
                    interval: 1,
                    series: [.init(name: "up", kind: .gauge(try SeriesSelector.parse("up").get()))]
                )
                let scraper = try ServerScraper(spec: spec, target: target)
                let inFlight = Task { await scraper.scrape(at: 1) }
                try await Task.sleep(for: .milliseconds(50))
                inFlight.cancel()
                await inFlight.value
                #expect(scraper.scrapes.isEmpty, "\(scraper.scrapes.map { $0.error ?? "ok" })")
                await scraper.scrape(at: 2)
                #expect(scraper.scrapes.count == 1)
                #expect(scraper.scrapes.first?.error == nil)
            }
        }
    }
}
