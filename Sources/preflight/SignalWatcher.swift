import Foundation
import PreflightCore
import PreflightKit
import UnixSignals

/// Runs a long-running command with SIGINT/SIGTERM watched: `run`, `drill` and `demo` share this one path, and it
/// is ServiceLifecycle's signal sequence, the same one `serve`'s `ServiceGroup` listens on.
///
/// The first signal stops issuing and lets requests in flight finish (up to `gracefulStop`); the second abandons
/// them at once; either way the partial report is written and the exit code is 130. A third exits at once, without
/// a report, for a process stuck where no signal is watched: that one exit is deliberate (the user asked three
/// times), and `beforeExit` runs first (the demo stops its children there).
func withSignalWatcher(
    beforeExit: @escaping @Sendable () -> Void = {},
    _ body: (RunControl) async -> ExitStatus
) async -> ExitStatus {
    let control = RunControl()
    return await withTaskGroup(of: Void.self) { group in
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        group.addTask {
            var received = 0
            for await _ in signals {
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
        }
        let status = await body(control)
        group.cancelAll()
        return status
    }
}
