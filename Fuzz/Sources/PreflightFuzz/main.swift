import Foundation
import PreflightFuzzing
import PreflightKit

// libFuzzer's driver, called from our own main: SwiftPM renames an executable's entry point, so libFuzzer's main
// can not be used (see scripts/fuzz.sh).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzer(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// `PREFLIGHT_FUZZ_TARGET`: `scenario` (a scenario or drill file's bytes), `threshold` (a metric key, a newline, an
/// expression), or a differential target (`http1`, `json`, `prometheus`, `regex`: see `Differential`).
let target = ProcessInfo.processInfo.environment["PREFLIGHT_FUZZ_TARGET"] ?? "scenario"
let run: @Sendable ([UInt8]) -> [String]
switch target {
case "scenario": run = { FuzzTargets.scenarioLoader(Data($0)) }
case "threshold": run = { FuzzTargets.thresholdParser(Data($0)) }
default:
    guard let differential = Differential.targets[target] else {
        fatalError(
            "PREFLIGHT_FUZZ_TARGET must be one of scenario, threshold, "
                + "\(Differential.targets.keys.sorted().joined(separator: ", ")); got \(target)"
        )
    }
    run = differential
}

/// One input; a broken invariant traps, so the fuzzer keeps the input.
func fuzzOne(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let broken = run(Array(UnsafeBufferPointer(start: start, count: count)))
    if !broken.isEmpty { fatalError(broken.joined(separator: "; ")) }
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzer(&argc, &argv, fuzzOne))
