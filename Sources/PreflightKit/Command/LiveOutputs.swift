import Foundation
import PreflightCore

/// Where a command's runs go while they run: `--stream` outputs and the `--dashboard`.
public struct LiveOptions: Sendable {
    /// `--stream KIND=VALUE`: where each time bucket (and each milestone) goes while the run goes.
    public var streams: [StreamOption] = []
    /// `--dashboard HOST:PORT`: where the live dashboard listens.
    public var dashboard: (host: String, port: Int)?
    /// `--dashboard-linger`: seconds the dashboard stays up after the last run (a signal ends it sooner).
    public var dashboardLinger: Double = 0

    public init() {}

    /// Opens the outputs (a file that cannot be written or a port that cannot be bound is a usage error, before
    /// anything runs), runs `body` with their feed (nil when none was asked for), keeps the dashboard up for
    /// `dashboardLinger`, and closes every output before it returns.
    func with(
        console: Console,
        control: RunControl,
        _ body: (LiveFeed?) async -> ExitStatus
    ) async -> ExitStatus {
        var sinks: [any LiveSink] = []
        for stream in streams {
            do {
                sinks.append(try stream.makeSink())
            } catch {
                console.err("error: \(error)")
                return .usage
            }
        }
        if let (host, port) = dashboard {
            do {
                let dashboard = try await DashboardSink.start(host: host, port: port)
                sinks.append(dashboard)
                console.err("\(dashboard.label) (live while the run goes)")
                if !DashboardSink.isLoopback(host) {
                    console.err(
                        "warning: the dashboard listens on \(host), not on loopback: anyone who can reach it sees the "
                            + "run's figures (never its secrets); use 127.0.0.1 to keep it on this machine"
                    )
                }
            } catch {
                console.err("error: \(error)")
                return .usage
            }
        }
        let linger = dashboardLinger
        do {
            return try await LiveFeed.with(sinks: sinks) { [sinks] live -> ExitStatus in
                let status = await body(live)
                if let dashboard = sinks.first(where: { $0 is DashboardSink }), linger > 0 {
                    console.err("\(dashboard.label) stays up for \(DurationText.format(seconds: linger))")
                    _ = await control.wait(for: .interrupted, until: .now + .seconds(linger))
                }
                return status
            }
        } catch {
            console.err("error: \(error)")
            return .internalError
        }
    }
}

extension LiveFeed {
    /// Gives the outputs at most 5 s to send (or give up on) what they hold, and returns the warnings this run adds
    /// to its report: called before the report is built, which carries them.
    func settle() async -> [String] {
        await drain(timeout: .seconds(5))
        return newWarnings()
    }
}

extension LiveEnd {
    /// How a written report ended: its verdict, its thresholds as judged, its folder.
    init(_ report: Report, folder: URL) {
        self.init(
            scenario: report.scenario.name,
            runID: report.run.id,
            verdict: report.verdict.rawValue,
            reason: report.verdictReason,
            thresholds: report.thresholds.map {
                LiveThreshold(name: "\($0.metric): \($0.expression)", ok: $0.ok, observed: $0.observed)
            },
            report: folder.path
        )
    }
}
