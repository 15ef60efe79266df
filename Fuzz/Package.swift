// swift-tools-version: 6.1
// libFuzzer driver for the scenario loader, the threshold grammar and the differential targets (PREFLIGHT_FUZZ_TARGET). Built apart from the main package (every
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
            dependencies: [
                .product(name: "PreflightKit", package: root.lastPathComponent),
                .product(name: "PreflightFuzzing", package: root.lastPathComponent),
            ]
        )
    ]
)
