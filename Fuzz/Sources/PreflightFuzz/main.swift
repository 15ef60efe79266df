import Foundation
import PreflightKit

// libFuzzer's driver, called from our own main: SwiftPM renames an executable's entry point, so libFuzzer's main
// can not be used (see scripts/fuzz.sh).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzer(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// `PREFLIGHT_FUZZ_TARGET`: `scenario` (a scenario or drill file's bytes) or `threshold` (a metric key, a newline,
/// an expression).
let target = ProcessInfo.processInfo.environment["PREFLIGHT_FUZZ_TARGET"] ?? "scenario"
guard target == "scenario" || target == "threshold" else {
    fatalError("PREFLIGHT_FUZZ_TARGET must be scenario or threshold, got \(target)")
}

/// One input; a broken invariant traps, so the fuzzer keeps the input.
func fuzzOne(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    let broken =
        ProcessInfo.processInfo.environment["PREFLIGHT_FUZZ_TARGET"] == "threshold"
        ? FuzzTargets.thresholdParser(data) : FuzzTargets.scenarioLoader(data)
    if !broken.isEmpty { fatalError(broken.joined(separator: "; ")) }
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzer(&argc, &argv, fuzzOne))
