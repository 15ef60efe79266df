import Foundation
import PreflightFuzzing
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Replays the fuzzers' corpus (`Fuzz/corpus/`: seeds and every input that found a bug) through the same entry
/// points libFuzzer drives, so a bug once found stays fixed without a fuzzing build.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    static func inputs(_ target: String) -> [String] {
        let dir = corpus.appendingPathComponent(target)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    @Test(arguments: inputs("scenario"))
    func theScenarioLoaderKeepsItsPromisesOn(_ name: String) throws {
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent("scenario/\(name)"))
        #expect(FuzzTargets.scenarioLoader(data) == [])
    }

    @Test(arguments: inputs("threshold"))
    func theThresholdGrammarKeepsItsPromisesOn(_ name: String) throws {
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent("threshold/\(name)"))
        #expect(FuzzTargets.thresholdParser(data) == [])
    }

    /// Every differential target's corpus, as `target/input`.
    static let differential = Differential.targets.keys.sorted().flatMap { t in inputs(t).map { "\(t)/\($0)" } }

    @Test(arguments: differential)
    func theDifferentialTargetsAgreeWithTheirReferenceOn(_ path: String) throws {
        let target = String(path.prefix { $0 != "/" })
        let run = try #require(Differential.targets[target])
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent(path))
        #expect(run(Array(data)) == [])
    }

    @Test func theCorpusIsThere() {
        for target in Differential.targets.keys { #expect(Self.inputs(target).count >= 2, "\(target)") }
        #expect(Self.inputs("scenario").count >= 3)
        #expect(Self.inputs("threshold").count >= 6)
    }
}
