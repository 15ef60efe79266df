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

/// A metric key, a newline, an expression; a broken invariant traps, so the fuzzer keeps the input.
func fuzzOne(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let broken = FuzzTargets.thresholdParser(Data(bytes: start, count: count))
    if !broken.isEmpty { fatalError(broken.joined(separator: "; ")) }
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzer(&argc, &argv, fuzzOne))
