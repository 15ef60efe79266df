import ArgumentParser
import PreflightCore
import PreflightKit

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the reports of a distributed run (run --segment I/N) into one.",
        discussion: """
            Adds the shards' HDR histograms and counters and evaluates the scenario's thresholds on the merged \
            data, then writes report.json, HTML, JUnit and Markdown into a new folder under --out. Refuses \
            shards of different scenarios, segment counts, schemas or histogram layouts, and missing or repeated \
            segments unless --allow-partial (the verdict then says partial). Exit code: the merged verdict's.
            Examples:
              preflight merge shard-0/report.json shard-1/report.json shard-2/report.json --out reports
              preflight merge /shared/reports/bench-* --out /shared/merged
            """
    )

    @Argument(help: "The shards' report.json files, or their run folders.")
    var reports: [String]

    @Option(help: "Folder for the merged report's folder.")
    var out = "reports"

    @Flag(help: "Merge even when segments are missing (the verdict says partial).")
    var allowPartial = false

    func run() async throws {
        let status = MergeCommand(paths: reports, outDirectory: out, allowPartial: allowPartial).run()
        throw ExitCode(status.rawValue)
    }
}
