import Dispatch
import Foundation
import PreflightKit

/// SIGINT/SIGTERM: the first stops issuing and lets requests in flight finish (up to `gracefulStop`); the second
/// abandons them at once; either way the partial report is written and the exit code is 130. A third exits at once,
/// without a report, for a process stuck where no signal is watched.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    /// `beforeExit` runs on a third signal, before the process exits at once (the demo stops its children there).
    init(control: RunControl, beforeExit: @escaping @Sendable () -> Void = {}) {
        let queue = DispatchQueue(label: "preflight.signals")
        // Touched only on `queue`.
        nonisolated(unsafe) var received = 0
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                received += 1
                switch received {
                case 1:
                    FileHandle.standardError.write(
                        Data("\ninterrupted: stopping, waiting for requests in flight, writing a partial report\n".utf8)
                    )
                    control.interrupt()
                case 2:
                    FileHandle.standardError.write(
                        Data(
                            "\nsecond signal: abandoning requests in flight, writing the partial report (a third exits at once)\n"
                                .utf8
                        )
                    )
                    control.hurry()
                default:
                    FileHandle.standardError.write(Data("\nthird signal: exiting now, without a report\n".utf8))
                    beforeExit()
                    exit(ExitStatus.interrupted.rawValue)
                }
            }
            source.resume()
            return source
        }
    }

    func cancel() { for s in sources { s.cancel() } }
}

/// Runs a long-running command with SIGINT/SIGTERM watched: `run`, `drill` and `demo` share this one path.
func withSignalWatcher(
    beforeExit: @escaping @Sendable () -> Void = {},
    _ body: (RunControl) async -> ExitStatus
) async -> ExitStatus {
    let control = RunControl()
    let signals = SignalWatcher(control: control, beforeExit: beforeExit)
    defer { signals.cancel() }
    return await body(control)
}
