import Foundation
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// `deploy/k8s/` and the `Dockerfile` (#14): no cluster or Docker engine runs here, so the manifests are validated
/// offline against Kubernetes' schemas and the files are checked against each other and the README.
@Suite struct DeployTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
    }

    /// Whether `python3 -m kubernetes_validate` runs here (PyPI's kubernetes-validate, which `.ci/run` installs).
    static let hasValidator: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import kubernetes_validate"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// `.ci/run` installs kubernetes-validate and runs it on the manifests too; here it must be on the machine.
    @Test(.enabled(if: hasValidator, "kubernetes-validate is not installed (pip install kubernetes-validate)"))
    func theManifestsPassStrictValidationForKubernetes131() async throws {
        let folder = Self.repository.appendingPathComponent("deploy/k8s")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
            .sorted().map { folder.appendingPathComponent($0).path }
        #expect(files.count == 4)
        let run = try await runProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["python3", "-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.31.0"] + files
        )
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.components(separatedBy: " passed for resource ").count - 1 == 5, "\(run.stdout)")
    }

    @Test func theShardJobRunsOneSegmentPerIndexAndTheMergeReadsThemAll() throws {
        let shards = try Self.text("deploy/k8s/20-shards-job.yaml")
        #expect(shards.contains("completionMode: Indexed"))
        let completions = try #require(shards.firstMatch(of: /completions: (\d+)/)?.1)
        let parallelism = try #require(shards.firstMatch(of: /parallelism: (\d+)/)?.1)
        #expect(completions == parallelism)
        #expect(shards.contains(#"--segment "${JOB_COMPLETION_INDEX}/\#(completions)""#))
        #expect(shards.contains(#"--out "/reports/shard-${JOB_COMPLETION_INDEX}""#))
        let merge = try Self.text("deploy/k8s/30-merge-job.yaml")
        #expect(merge.contains("preflight merge /reports/shard-*/*/report.json"))
        // The scenario in the ConfigMap is one Preflight accepts.
        let configMap = try Self.text("deploy/k8s/10-scenario.yaml")
        let json = try #require(configMap.components(separatedBy: "scenario.json: |\n").last)
        let scenario = json.split(separator: "\n").map { $0.dropFirst(4) }.joined(separator: "\n")
        #expect(throws: Never.self) {
            _ = try ScenarioLoader(environment: [:]).load(
                data: Data(scenario.utf8),
                file: "10-scenario.yaml",
                baseDirectory: Self.repository
            )
        }
    }

    @Test func theDockerfileBuildsAsTheReadmeSays() throws {
        let docker = try Self.text("Dockerfile")
        let readme = try Self.text("README.md")
        // The build stage installs what the README's one-line install does (less openssl, curl, Chromium and
        // Prometheus, for the tests only) and builds the README's release product.
        let install = try #require(readme.firstMatch(of: /apt-get install -y ([a-z0-9 .+-]+?)\s+#/)?.1)
        let readmePackages = Set(install.split(separator: " ").map(String.init)).subtracting([
            "chromium", "openssl", "curl", "prometheus",
        ])
        let dockerPackages = try #require(docker.firstMatch(of: /apt-get install -y ([a-z0-9 .+-]+?) &&/)?.1)
        #expect(Set(dockerPackages.split(separator: " ").map(String.init)) == readmePackages)
        #expect(docker.contains("FROM swift:6.3-"))
        #expect(readme.contains("Swift 6.3"))
        #expect(docker.contains("swift build -c release --product preflight"))
        #expect(readme.contains("swift run -c release preflight demo"))
        #expect(docker.contains("COPY --from=build /src/.build/release/preflight /usr/local/bin/preflight"))
    }
}
