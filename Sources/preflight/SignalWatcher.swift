import Dispatch
import Foundation
import PreflightKit

/// SIGINT/SIGTERM: the first stops issuing and lets the run write a partial report; the second exits at once.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    /// `beforeExit` runs on a second signal, before the process exits at once (the demo stops its children there).
    init(control: RunControl, beforeExit: @escaping @Sendable () -> Void = {}) {
        let queue = DispatchQueue(label: "preflight.signals")
        sources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if control.isInterrupted {
                    FileHandle.standardError.write(Data("\nsecond signal: exiting now\n".utf8))
                    beforeExit()
                    exit(ExitStatus.interrupted.rawValue)
                }
                FileHandle.standardError.write(
                    Data("\ninterrupted: stopping, waiting for requests in flight, writing a partial report\n".utf8)
                )
                control.interrupt()
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
