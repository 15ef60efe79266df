import Foundation
import PreflightCore

/// What one drill action did, for the run folder and the report.
public struct ActionRecord: Sendable, Codable, Equatable {
    public var kind: DrillStateMachine.ActionKind
    public var argv: [String]
    /// Seconds since the drill started.
    public var startedAt: Double
    public var durationSeconds: Double
    /// The exit status; nil when the program could not start or was killed at its timeout.
    public var exitStatus: Int32?
    public var timedOut: Bool
    /// Why it could not start, when it could not.
    public var error: String?
    /// Files in the run folder holding its standard output and error.
    public var stdoutFile: String
    public var stderrFile: String

    public var succeeded: Bool { exitStatus == 0 && !timedOut }
}

/// Runs a drill action: argv as given (no shell unless the argv says so), output into files in the run folder
/// (files, not pipes: an action that starts a server in the background must not keep the drill waiting for EOF),
/// SIGTERM at its timeout and SIGKILL 2 s later.
struct ActionRunner: Sendable {
    let folder: URL
    let environment: [String: String]

    func run(_ kind: DrillStateMachine.ActionKind, _ action: Drill.Action, startedAt: Double) async -> ActionRecord {
        let out = folder.appendingPathComponent("action-\(kind.rawValue).stdout.log")
        let err = folder.appendingPathComponent("action-\(kind.rawValue).stderr.log")
        var record = ActionRecord(
            kind: kind,
            argv: action.argv,
            startedAt: startedAt,
            durationSeconds: 0,
            exitStatus: nil,
            timedOut: false,
            error: nil,
            stdoutFile: out.lastPathComponent,
            stderrFile: err.lastPathComponent
        )
        let clock = ContinuousClock()
        let start = clock.now
        let searchPath = environment["PATH"] ?? "/usr/bin:/bin"
        guard let executable = DrillLoader.resolve(action.argv[0], searchPath: searchPath) else {
            record.error = "program \"\(action.argv[0])\" is not on PATH"
            return record
        }
        let pid: pid_t
        switch ChildProcess.spawn(
            executable: executable,
            argv: action.argv,
            environment: environment,
            stdout: out.path,
            stderr: err.path
        ) {
        case .success(let p): pid = p
        case .failure(let e):
            record.error = "could not start: \(e)"
            return record
        }
        enum Event: Sendable {
            case exited(Int32)
            case timedOut
        }
        let (status, timedOut): (Int32?, Bool) = await withTaskGroup(of: Event?.self) { group in
            group.addTask { .exited(await ChildProcess.wait(pid)) }
            group.addTask {
                try? await Task.sleep(for: .seconds(action.timeout))
                guard !Task.isCancelled else { return nil }
                kill(-pid, SIGTERM)
                return .timedOut
            }
            var timedOut = false
            while let event = await group.next() {
                switch event {
                case .exited(let code)?:
                    group.cancelAll()
                    return (code, timedOut)
                case .timedOut?:
                    timedOut = true
                    // SIGTERM went to its process group; SIGKILL follows if it is ignored for 2 s.
                    group.addTask {
                        try? await Task.sleep(for: .seconds(2))
                        if !Task.isCancelled { kill(-pid, SIGKILL) }
                        return nil
                    }
                case nil: continue
                }
            }
            return (nil, timedOut)
        }
        record.durationSeconds = (clock.now - start).seconds
        record.timedOut = timedOut
        record.exitStatus = timedOut ? nil : status
        return record
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Child processes by `posix_spawn` and `waitpid`, for drill actions.
///
/// Not Foundation's `Process`: on Linux it learns of the exit through a descriptor the child inherits, so an
/// action that starts a server in the background (`serve … &`, the usual restart) never "ends" while the server
/// runs. Here the exit is the shell's own, seen by `waitpid`. Each child gets its own process group (a Ctrl-C at
/// the terminal reaches the drill, which decides, not the action; a timeout signals the whole group) and default
/// SIGINT/SIGTERM/SIGPIPE handling, whatever the harness ignores.
enum ChildProcess {
    struct SpawnError: Error, CustomStringConvertible {
        var code: Int32
        var description: String { String(cString: strerror(code)) }
    }

    static func spawn(
        executable: String,
        argv: [String],
        environment: [String: String],
        stdout: String,
        stderr: String
    ) -> Result<pid_t, SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGPIPE, SIGQUIT] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP)
        )
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, cArgs, cEnv)
        return rc == 0 ? .success(pid) : .failure(SpawnError(code: rc))
    }

    /// Waits for the child on a thread of its own (waitpid blocks); the exit status, or 128 + the signal.
    static func wait(_ pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                let low = status & 0x7F
                continuation.resume(returning: low == 0 ? (status >> 8) & 0xFF : 128 + low)
            }
        }
    }
}
