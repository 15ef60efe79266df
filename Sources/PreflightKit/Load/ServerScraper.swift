import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PreflightCore

/// Scrapes the target's Prometheus endpoint during a run (`target.metrics`, SPEC §13).
///
/// Each scrape is one request on a fresh connection of its own (`OneShotHTTP`), never on the load's connections,
/// and none is counted in the run's metrics. A scrape that fails or does not parse is recorded with its reason and
/// skipped by the series; the run goes on.
public final class ServerScraper: Sendable {
    public let spec: ServerMetricsSpec
    let client: OneShotHTTP
    let path: String
    private let recorded = NIOLockedValueBox<[ServerScrape]>([])

    /// How long one scrape may take.
    public static let timeout = 5.0

    /// The largest exposition read; a bigger one is a failed scrape (a target's `/metrics` is usually < 1 MiB).
    public static let maxBytes = 8 << 20

    /// `targetHTTP`: the scenario's protocol and TLS settings, spoken to a `url` on the target's own server (an
    /// h2c-only server answers nothing else); an absolute `url` elsewhere (a metrics port, a sidecar) gets HTTP/1.1.
    public init(spec: ServerMetricsSpec, target: Target, targetHTTP: HTTPSettings = HTTPSettings()) throws {
        self.spec = spec
        var base = target.baseURL
        var path = spec.url
        var http = HTTPSettings()
        if !spec.url.hasPrefix("/"), case .success(let absolute) = TargetURL.parse(spec.url) {
            base = TargetURL(scheme: absolute.scheme, host: absolute.host, port: absolute.port, basePath: "")
            path = absolute.basePath.isEmpty ? "/" : absolute.basePath
        } else {
            base.basePath = ""  // a path is on the target's host, not under its base path
            http.version = targetHTTP.version == .http2 ? .http2 : .http1_1
            http.insecureSkipVerify = targetHTTP.insecureSkipVerify
        }
        self.path = path
        http.maxBodyBytes = Self.maxBytes
        client = try TransportFactory(target: base, http: http).oneShot(
            headers: [(name: "Accept", value: "text/plain;version=0.0.4")],
            connectTimeout: 2
        )
    }

    /// What was scraped so far, in order.
    public var scrapes: [ServerScrape] { recorded.withLockedValue { $0 } }

    /// One scrape, recorded at `t` seconds from the run's start.
    public func scrape(at t: Double) async {
        // A slow answer delays the next scrape (they never overlap) rather than failing: a busy server is what the
        // scrape is there to show.
        let answer = await client.send(method: "GET", path: path, timeout: Self.timeout, wantsBody: true)
        // Cancelled by the run's end while in flight (the tick at the run's last second): not a failure of the
        // server's, and the final scrape follows at once. It was counted as a failed scrape before, whenever the tick
        // and the end met (every run of a whole number of seconds over HTTP/2, where a scrape opens a connection).
        guard !answer.abandoned else { return }
        let scrape: ServerScrape
        if answer.status != 200 {
            let why =
                answer.status == 0 ? "no answer (\(answer.error.map { "\($0)" } ?? "error"))" : "HTTP \(answer.status)"
            scrape = ServerScrape(t: t, exposition: nil, error: "\(path): \(why)")
        } else if answer.bodyTruncated {
            scrape = ServerScrape(t: t, exposition: nil, error: "\(path): longer than \(Self.maxBytes >> 20) MiB")
        } else {
            do {
                let text = answer.body.map { String(decoding: $0, as: UTF8.self) } ?? ""
                scrape = ServerScrape(t: t, exposition: try PrometheusExposition.parse(text))
            } catch {
                scrape = ServerScrape(t: t, exposition: nil, error: "\(path): not Prometheus text: \(error)")
            }
        }
        recorded.withLockedValue { $0.append(scrape) }
    }

    /// Scrapes every `interval` from `start` until the task is cancelled.
    public func run(start: NIODeadline) async {
        var tick: Int64 = 1
        let step = Int64(spec.interval * 1e9)
        while !Task.isCancelled {
            let wake = start + .nanoseconds(tick * step)
            tick += 1
            let wait = max(0, (wake - NIODeadline.now()).nanoseconds)
            guard (try? await Task.sleep(for: .nanoseconds(wait))) != nil else { return }
            await scrape(at: Double((NIODeadline.now() - start).nanoseconds) / 1e9)
        }
    }
}
