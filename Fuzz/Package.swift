// swift-tools-version: 6.1
// libFuzzer targets for the scenario loader and the threshold grammar. Built apart from the main package (every
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
            name: "FuzzScenario",
            dependencies: [.product(name: "PreflightKit", package: root.lastPathComponent)]
        ),
        .executableTarget(
            name: "FuzzThreshold",
            dependencies: [.product(name: "PreflightKit", package: root.lastPathComponent)]
        ),
    ]
)
