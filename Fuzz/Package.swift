// swift-tools-version: 6.1
// libFuzzer driver for the scenario loader and the threshold grammar (PREFLIGHT_FUZZ_TARGET). Built apart from the main package (every
// module instrumented with -sanitize=fuzzer); see scripts/fuzz.sh.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "PreflightFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "PreflightFuzz",
            dependencies: [.product(name: "PreflightKit", package: root.lastPathComponent)]
        )
    ]
)
