import ArgumentParser
import MarketData
import PreflightCore
import PreflightKit

/// `--var KEY=VALUE`: sets `${KEY}` in scenarios and drills.
struct Variable: ExpressibleByArgument {
    var key: String
    var value: String

    init?(argument: String) {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else { return nil }
        key = String(argument[..<eq])
        value = String(argument[argument.index(after: eq)...])
    }

    /// Later settings of a key win, as on a shell command line.
    static func dictionary(_ variables: [Variable]) -> [String: String] {
        Dictionary(variables.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

/// `--var KEY=VALUE` and `--secret NAME`, shared by `run`, `drill` and `validate`.
struct VariableOptions: ParsableArguments {
    @Option(name: .customLong("var"), help: "Set ${KEY} in scenarios and drills (wins over the environment).")
    var variables: [Variable] = []

    @Option(
        name: .customLong("secret"),
        help: """
            Mask this variable's value (from --var or the environment) as *** in every output; variables whose \
            names contain TOKEN, SECRET, PASSWORD, KEY or AUTH are masked anyway.
            """
    )
    var secrets: [String] = []

    var dictionary: [String: String] { Variable.dictionary(variables) }
    var secretNames: Set<String> { Set(secrets) }
}

/// `--seed N`: at most 2^53 - 1, so that JSON readers of the report keep it exact.
struct Seed: ExpressibleByArgument {
    var value: UInt64

    init?(argument: String) {
        guard let n = UInt64(argument), n <= PreflightInfo.maxSeed else { return nil }
        value = n
    }
}

extension TransportSettings.Mode: ExpressibleByArgument {}

/// `--segment I/N`, 0 ≤ I < N ≤ 1024.
extension ExecutionSegment: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
extension ProviderSimulatorConfiguration.RateLimitWindow: ExpressibleByArgument {}
extension ProviderSimulatorConfiguration.HeaderStyle: ExpressibleByArgument {}

/// `serve --parallel-backfill` or `--sequential-backfill` (the default); giving both is a usage error.
enum BackfillMode: String, EnumerableFlag {
    case parallelBackfill
    case sequentialBackfill
}
