import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PreflightCore

/// What `preflight demo` was asked to do.
public struct DemoOptions: Sendable {
    /// Folder for report folders and `index.html`.
    public var outDirectory = "reports"
    /// A smaller universe and shorter runs (what the test suite runs).
    public var quick = false
    /// Also runs the capacity search (`scenarios/capacity_features.json`), which takes a minute or two more.
    public var full = false
    /// Keep the database and logs in this folder instead of a temporary one.
    public var keep: String?
    /// The shipped scenarios and drill.
    public var scenariosDirectory = "scenarios"
    /// The `preflight` executable whose `serve` and `provider-sim` the demo starts.
    public var executable: String
    public var environment = ProcessInfo.processInfo.environment

    public init(executable: String) { self.executable = executable }
}

/// The demo's child processes, so that none outlives it: whatever path it ends by (success, failure, a signal,
/// a second signal), `stopAll` is called.
public final class DemoChildren: Sendable {
    private let state = NIOLockedValueBox<(pids: [pid_t], pidFiles: [String])>(([], []))

    public init() {}

    func add(_ pid: pid_t) { state.withLockedValue { $0.pids.append(pid) } }
    func add(pidFile: String) { state.withLockedValue { $0.pidFiles.append(pidFile) } }

    /// Every process the demo started, read again from the pid files (a restart writes a new pid there).
    var pids: [pid_t] {
        state.withLockedValue { s in
            s.pids
                + s.pidFiles.compactMap { file in
                    (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
                        pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                }
        }
    }

    /// SIGTERM to each (and its process group), then SIGKILL to whatever is left after `grace` seconds.
    public func stopAll(grace: Double = 3) {
        let list = pids.filter { $0 > 1 }
        for pid in list {
            kill(pid, SIGTERM)
            kill(-pid, SIGTERM)
        }
        Self.waitForExit(list, seconds: grace)
        for pid in list where kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
            kill(-pid, SIGKILL)
            _ = waitpid(pid, nil, WNOHANG)
        }
    }

    /// Blocks until every process in `pids` has exited, or `seconds` pass: one `poll(2)` on a pidfd per process
    /// (Linux 5.3+), which becomes readable when the process exits, whether or not it is our child (the API started
    /// by a shell script is not). Exited children are reaped. This runs on a signal path and at exit, where no
    /// event loop can be relied on; a process that cannot be watched (no pidfd) is left to the SIGKILL that follows.
    static func waitForExit(_ pids: [pid_t], seconds: Double) {
        typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
        // Swift's Glibc module does not export pidfd_open (glibc 2.36); look it up by name.
        guard let symbol = dlsym(nil, "pidfd_open") else { return }
        let pidfdOpen = unsafeBitCast(symbol, to: PidfdOpen.self)
        var watched: [(pid: pid_t, fd: Int32)] = pids.compactMap { pid in
            let fd = pidfdOpen(pid, 0)
            return fd >= 0 ? (pid, fd) : nil
        }
        defer { for w in watched { close(w.fd) } }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !watched.isEmpty {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return }
            var fds = watched.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32((left / .milliseconds(1)).rounded(.up)))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return }
            for (i, pollfd) in fds.enumerated().reversed() where pollfd.revents != 0 {
                _ = waitpid(watched[i].pid, nil, WNOHANG)
                close(watched[i].fd)
                watched.remove(at: i)
            }
        }
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }
}

/// `preflight demo`: the provider simulator and the reference API (with its scheduler) as child processes on
/// free loopback ports, a backfill, every load scenario in REAL mode, the RTO/RPO drill (a real SIGKILL and
/// restart of the API), `index.html`, a final table; no child process survives it.
public struct DemoCommand: Sendable {
    public var options: DemoOptions
    public var console: Console
    public var logger: Logger
    public var children: DemoChildren

    public init(options: DemoOptions, children: DemoChildren, console: Console = .standard, logger: Logger) {
        self.options = options
        self.children = children
        self.console = console
        self.logger = logger
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The demo's sizes: the full one, and `--quick`.
    struct Plan {
        var symbols: Int
        var lookbackDays: Int
        var cacheSize: Int
        var duration: String
        var faultAfter: String
    }

    var plan: Plan {
        options.quick
            ? Plan(symbols: 100, lookbackDays: 120, cacheSize: 32, duration: "3s", faultAfter: "2s")
            : Plan(symbols: 600, lookbackDays: 400, cacheSize: 256, duration: "20s", faultAfter: "5s")
    }

    public func run(control: RunControl) async -> ExitStatus {
        let clock = ContinuousClock()
        let began = clock.now
        let folder: URL
        do {
            folder = try workFolder()
        } catch {
            console.err("demo: \(error)")
            return .internalError
        }
        defer {
            children.stopAll()
            if options.keep == nil { try? FileManager.default.removeItem(at: folder) }
        }
        do {
            return try await steps(folder: folder, control: control, clock: clock, began: began)
        } catch {
            console.err("demo failed: \(error)")
            return control.isInterrupted ? .interrupted : .internalError
        }
    }

    func workFolder() throws -> URL {
        if let keep = options.keep {
            let url = URL(fileURLWithPath: keep)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("preflight-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func steps(
        folder: URL,
        control: RunControl,
        clock: ContinuousClock,
        began: ContinuousClock.Instant
    ) async throws
        -> ExitStatus
    {
        let plan = self.plan
        var stepStart = clock.now
        func step(_ text: String) {
            let took = (clock.now - stepStart).seconds
            console.err(String(format: "  %@ (%.1f s)", text, took))
            stepStart = clock.now
        }
        console.err(
            "preflight demo\(options.quick ? " --quick" : "")\(options.full ? " --full" : ""): work folder \(folder.path)"
        )

        // The universe: the shipped one, or its first symbols for --quick (plus AAPL, the cached scenario's).
        let csv = try String(
            contentsOfFile: "\(options.scenariosDirectory)/data/universe.csv",
            encoding: .utf8
        )
        var symbols = Array(csv.split(separator: "\n").dropFirst().map(String.init).prefix(plan.symbols))
        if !symbols.contains("AAPL") { symbols.append("AAPL") }
        let universe = folder.appendingPathComponent("universe.csv")
        try ("symbol\n" + symbols.joined(separator: "\n") + "\n").write(to: universe, atomically: true, encoding: .utf8)

        // 1. The provider simulator.
        let providerPort = try Self.freePort()
        let provider = try spawn(
            [
                "provider-sim", "--port", "\(providerPort)", "--rate-limit", "200/1s", "--max-bars", "1000",
                "--seed", "1",
            ],
            log: folder.appendingPathComponent("provider.log")
        )
        children.add(provider)
        try "\(provider)\n".write(to: folder.appendingPathComponent("provider.pid"), atomically: true, encoding: .utf8)
        let providerURL = try TargetURL.parse("http://127.0.0.1:\(providerPort)").get()
        try await waitUntilAnswering(
            providerURL,
            path: "/admin/stats",
            control: control,
            what: "the provider simulator"
        )
        step("provider simulator on \(providerURL)")

        // 2. The reference API with its scheduler, started by a script the drill uses again to restart it. Its admin
        // routes need a token made for this demo: kept in a file only its owner reads, never on a command line (where
        // `ps` shows it), in a log or in a report (scenarios name it ${PREFLIGHT_ADMIN_TOKEN}).
        let apiPort = try Self.freePort()
        let pidFile = folder.appendingPathComponent("api.pid").path
        children.add(pidFile: pidFile)
        let token = Self.adminToken()
        let tokenFile = folder.appendingPathComponent("admin-token")
        try Self.writePrivate(token, to: tokenFile.path)
        let start = folder.appendingPathComponent("start-api.sh")
        let serve = [
            options.executable, "serve", "--port", "\(apiPort)", "--db",
            folder.appendingPathComponent("market.sqlite").path,
            "--provider", providerURL.description, "--parallel-backfill", "--max-concurrent-symbols", "8",
            "--lookback-days", "\(plan.lookbackDays)", "--cache-size", "\(plan.cacheSize)", "--symbols",
            symbols.joined(separator: ","),
        ]
        try """
        #!/bin/sh
        # Starts the reference API in the background and records its pid (the demo and its drill both use this).
        PREFLIGHT_ADMIN_TOKEN="$(cat \(Self.shellQuoted(tokenFile.path)))" \(serve.map(Self.shellQuoted).joined(separator: " ")) </dev/null >>\(Self.shellQuoted(folder.appendingPathComponent("api.log").path)) 2>&1 &
        echo $! > \(Self.shellQuoted(pidFile))
        """.write(to: start, atomically: true, encoding: .utf8)
        chmod(start.path, 0o755)
        try await runAndWait(["/bin/sh", start.path], log: folder.appendingPathComponent("start-api.log"))
        let apiURL = try TargetURL.parse("http://127.0.0.1:\(apiPort)").get()
        try await waitUntilAnswering(apiURL, path: "/readyz", control: control, what: "the reference API")
        step("reference API on \(apiURL) (scheduler on, parallel backfill)")

        // 3. The backfill of the universe.
        try await waitForBackfill(apiURL, symbols: symbols.count, token: token, control: control)
        step("backfill of \(symbols.count) symbols × \(plan.lookbackDays) days")

        // 4. Every load scenario, REAL.
        var runOptions = RunCommandOptions(paths: [options.scenariosDirectory])
        runOptions.target = apiURL.description
        runOptions.mode = .real
        runOptions.outDirectory = options.outDirectory
        runOptions.quiet = true
        runOptions.seed = 1
        runOptions.variables = [
            "DURATION": plan.duration, "PREFLIGHT_UNIVERSE": universe.path, "PREFLIGHT_ADMIN_TOKEN": token,
        ]
        let quietConsole = Console(out: { _ in }, errRaw: console.errRaw, errIsTerminal: false)
        let loads = RunCommand(options: runOptions, console: quietConsole, logger: logger)
        var statuses: [ExitStatus] = []
        guard case .success(let scenarios) = loads.loadAll() else {
            throw Failure(description: "the scenarios in \(options.scenariosDirectory) do not validate")
        }
        // Capacity searches come last (with --full only, which keeps the default demo under two minutes): they
        // drive the API to its limit and leave its cache full of their last symbols, which the other scenarios'
        // cache checks would see.
        let searches = scenarios.filter { $0.load.executor.capacitySearch != nil }
        for scenario in scenarios where !control.isInterrupted && scenario.load.executor.capacitySearch == nil {
            statuses.append(try await loads.runOne(scenario, control: control))
            step("scenario \(scenario.name)")
        }

        // 4b. The hot symbol again, over HTTP/2 (h2c): a second API instance on the same database, without a
        // scheduler (only an instance given a provider runs one), so one run of the demo shows both protocols.
        if !control.isInterrupted, let hot = scenarios.first(where: { $0.name == "cached-symbol" }) {
            let h2Port = try Self.freePort()
            let h2API = try spawn(
                [
                    "serve", "--http2", "--port", "\(h2Port)", "--db",
                    folder.appendingPathComponent("market.sqlite").path,
                    "--cache-size", "\(plan.cacheSize)", "--symbols", symbols.joined(separator: ","),
                ],
                log: folder.appendingPathComponent("api-h2.log"),
                environment: ["PREFLIGHT_ADMIN_TOKEN": token]
            )
            children.add(h2API)
            let h2URL = try TargetURL.parse("http://127.0.0.1:\(h2Port)").get()
            var h2 = HTTPSettings()
            h2.version = .http2
            try await waitUntilAnswering(h2URL, path: "/readyz", control: control, what: "the HTTP/2 API", http: h2)
            var scenario = hot
            scenario.name = "\(hot.name)-http2"
            scenario.http.version = .http2
            scenario.target.baseURL = h2URL
            statuses.append(try await loads.runOne(scenario, control: control))
            step("scenario \(scenario.name) (h2c, a second API instance on the same database)")
        }
        for scenario in searches where options.full && !control.isInterrupted {
            statuses.append(try await loads.runOne(scenario, control: control))
            step("scenario \(scenario.name) (capacity search)")
        }

        // 5. The drill: SIGKILL the API, restart it on the same database and port.
        if !control.isInterrupted {
            var drillOptions = DrillCommandOptions(paths: [options.scenariosDirectory])
            drillOptions.target = apiURL.description
            drillOptions.outDirectory = options.outDirectory
            drillOptions.seed = 1
            drillOptions.variables = [
                "PREFLIGHT_FAULT_CMD": "kill -9 $(cat \(Self.shellQuoted(pidFile)))",
                "PREFLIGHT_RECOVER_CMD": Self.shellQuoted(start.path),
                "PREFLIGHT_FAULT_AFTER": plan.faultAfter,
                "PREFLIGHT_RECOVERY_TIMEOUT": "60s",
                "PREFLIGHT_ADMIN_TOKEN": token,
            ]
            drillOptions.environment = options.environment
            let drills = DrillCommand(options: drillOptions, console: quietConsole, logger: logger)
            switch drills.loadAll() {
            case .success(let list):
                for drill in list where !control.isInterrupted {
                    statuses.append(try await drills.runOne(drill, control: control))
                    step("drill \(drill.name) (the API was killed with SIGKILL and restarted)")
                }
            case .failure(let e): throw Failure(description: e.description)
            }
        }
        let root = URL(fileURLWithPath: options.outDirectory)
        try RunIndex.write(root: root)
        let status = control.isInterrupted ? ExitStatus.interrupted : ExitStatus.worst(statuses)
        console.out(table(root: root, since: began.duration(to: clock.now).seconds))
        console.out(
            "index: \(root.appendingPathComponent("index.html").path) · exit \(status.rawValue) · "
                + String(format: "%.0f s in all", (clock.now - began).seconds)
        )
        return status
    }

    /// The final table: the runs this demo wrote, from their reports.
    func table(root: URL, since seconds: Double) -> String {
        let cutoff = Date().addingTimeInterval(-seconds - 1)
        let entries = RunIndex.entries(in: root).filter { ($0.report?.run.startedAt ?? .distantPast) >= cutoff }
            .reversed()
        var rows = [["scenario", "verdict", "mode", "key figures", "report"]]
        for e in entries {
            guard let r = e.report else { continue }
            let figures: String
            if let d = r.drill {
                figures =
                    "RTO \(HumanFormat.ms(d.rtoSeconds.map { $0 * 1000 })), lost writes \(d.lostWrites.map(String.init) ?? "–")"
                    + ", RPO \(d.rpoSeconds == 0 ? "0 s" : HumanFormat.ms(d.rpoSeconds.map { $0 * 1000 }))"
            } else if let c = r.capacity {
                let rate = c.sustainableRate.map { "\(Int($0.rounded()))/s" } ?? "none"
                figures =
                    "sustainable \(rate) (\(c.confirmed ? "confirmed" : "NOT confirmed")), \(c.steps.count) steps"
                    + (c.firstFailingRate.map { ", first failing \(Int($0.rounded()))/s" } ?? "")
            } else if r.flow != nil {
                // A journey: whole iterations, their p95 and how many a failed step stopped.
                let journeys = r.summary(.iterations)?[.count] ?? 0
                let p95 = r.summary(.iterationDuration)?[.percentile(95)]
                let reqs = r.summary(.httpReqs)?[.count] ?? 0
                figures =
                    "\(Int(journeys)) journeys (\(Int(reqs)) requests), p95 \(HumanFormat.ms(p95)), "
                    + "stopped \(r.flow?.stopped ?? 0)"
            } else {
                let reqs = r.summary(.httpReqs)?[.count] ?? 0
                let p95 = r.summary(.httpReqDuration)?[.percentile(95)]
                let failed = r.summary(.httpReqFailed)?[.rate] ?? 0
                let over = r.requests.contains { $0.protocol == "HTTP/2" } ? " over HTTP/2" : ""
                figures =
                    "\(Int(reqs)) requests\(over), p95 \(HumanFormat.ms(p95)), failed \(HumanFormat.percent(failed))"
            }
            rows.append([
                r.scenario.name, r.verdict.word, r.transport.mode.word, figures,
                "\(root.lastPathComponent)/\(e.folder)/report.html",
            ])
        }
        return "\n" + TextSummary.table(rows, left: [0, 3, 4]).joined(separator: "\n")
    }

    // MARK: Processes

    func spawn(_ arguments: [String], log: URL, environment extra: [String: String] = [:]) throws -> pid_t {
        switch ChildProcess.spawn(
            executable: options.executable,
            argv: [options.executable] + arguments,
            environment: options.environment.merging(extra) { _, new in new },
            stdout: log.path,
            stderr: log.path + ".err"
        ) {
        case .success(let pid): return pid
        case .failure(let e): throw Failure(description: "cannot start \(arguments.first ?? ""): \(e)")
        }
    }

    func runAndWait(_ argv: [String], log: URL) async throws {
        switch ChildProcess.spawn(
            executable: argv[0],
            argv: argv,
            environment: options.environment,
            stdout: log.path,
            stderr: log.path
        ) {
        case .success(let pid):
            let status = await ChildProcess.wait(pid)
            guard status == 0 else { throw Failure(description: "\(argv.joined(separator: " ")) exited \(status)") }
        case .failure(let e): throw Failure(description: "cannot run \(argv[0]): \(e)")
        }
    }

    func waitUntilAnswering(
        _ url: TargetURL,
        path: String,
        control: RunControl,
        what: String,
        http: HTTPSettings = HTTPSettings()
    ) async throws {
        let client = try TransportFactory(target: url, http: http).oneShot(connectTimeout: 1)
        for _ in 0..<600 {
            guard !control.isInterrupted else { throw Failure(description: "interrupted") }
            if await client.send(method: "GET", path: path, timeout: 1).status == 200 { return }
            // Polls a child process's port: it sends no word when it is ready.
            try? await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "\(what) did not answer \(path) within 60 s")
    }

    /// Polls `scheduler-health` until every symbol is backfilled, with a progress line.
    func waitForBackfill(_ url: TargetURL, symbols total: Int, token: String, control: RunControl) async throws {
        let client = try TransportFactory(target: url).oneShot(connectTimeout: 2)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(options.quick ? 120 : 300)
        var last = ""
        while clock.now < deadline {
            guard !control.isInterrupted else { throw Failure(description: "interrupted") }
            let answer = await client.send(
                method: "GET",
                path: "/api/v1/admin/scheduler-health",
                headers: [("Authorization", "Bearer \(token)")],
                timeout: 10,
                wantsBody: true
            )
            if let body = answer.body, let doc = try? JSONValue.parse(Data(body)),
                let progress = Self.backfillProgress(doc, total: total)
            {
                if progress.line != last {
                    console.err(progress.line)
                    last = progress.line
                }
                if progress.finished { return }
            }
            // Polls the API's scheduler-health once a second: the progress line is that poll's output.
            try? await Task.sleep(for: .seconds(1))
        }
        throw Failure(description: "the backfill did not finish in time (\(last.trimmingCharacters(in: .whitespaces)))")
    }

    /// The progress line for a `scheduler-health` answer, and whether every symbol is backfilled and no run is
    /// going; nil for an answer without symbols. While a run is going there is no "last run" to speak of yet: the
    /// line counts the last hour's provider attempts and 429s instead.
    static func backfillProgress(_ doc: JSONValue, total: Int) -> (line: String, finished: Bool)? {
        guard case .array(let list)? = doc["symbols"] else { return nil }
        let done = list.filter {
            if case .number(let lag)? = $0["lagTradingDays"] { return lag <= 1 }
            return false
        }.count
        let running = doc["state"] == .string("running")
        var line = "    backfill: \(done)/\(total) symbols · "
        if running || doc["lastRun"] == nil || doc["lastRun"] == .null {
            let attempts = doc["lastHour"]?["attempts"].map(\.textValue) ?? "0"
            let limited = doc["lastHour"]?["rateLimited"].map(\.textValue) ?? "0"
            line += "run in progress · \(attempts) provider requests, \(limited) rate-limited (last hour)"
        } else {
            let bars = doc["lastRun"]?["barsWritten"].map(\.textValue) ?? "0"
            let waits = doc["lastRun"]?["rateLimitHits"].map(\.textValue) ?? "0"
            line += "last run \(bars) bars · \(waits) rate-limit waits"
        }
        return (line, done >= total && !running)
    }

    /// A bearer token for this demo's admin routes: 128 random bits from the system's generator, in hex.
    static func adminToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(g.next() as UInt64, radix: 16) }.joined(separator: "-")
    }

    /// Writes `text` to a new file that only its owner can read (mode 0600 from creation: never readable by others,
    /// not even for a moment).
    static func writePrivate(_ text: String, to path: String) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else {
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw Failure(description: "no free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }
}
