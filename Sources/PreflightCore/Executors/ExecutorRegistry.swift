/// What an executor declares in its own file under `Executors/` (k6's `lib/executor` layout): its name, the
/// keys it reads, how it reads and checks them, and what the report shows. It is either an `OpenModelExecutor`
/// (an arrival schedule) or a `ClosedModelExecutor` (a VU step), which is all `ExecutorStateMachine` needs.
package protocol ExecutorDefinition: Sendable {
    /// The name a scenario's `load.executor` gives.
    static var name: String { get }
    /// Keys it accepts besides `executor` and `gracefulStop` (`scenarios/schema.json` lists the same).
    static var keys: [String] { get }
    /// Reads and checks its keys; problems go to the node's diagnostics, naming the key and the fix.
    static func decode(_ obj: JSONObjectNode) -> Self?

    /// Seconds during which new iterations are issued.
    var issuingSeconds: Double { get }
    /// Open models: the most VUs that may exist; closed models: the VUs.
    var maxVUs: Int { get }
    /// The parameters the report lists (rates per time unit, durations in seconds).
    var reportParameters: [String: Double] { get }
    /// The stages the report draws, if it has any.
    var reportStages: [LoadSettings.Stage]? { get }

    func isEqual(to other: any ExecutorDefinition) -> Bool
}

extension ExecutorDefinition where Self: Equatable {
    package func isEqual(to other: any ExecutorDefinition) -> Bool { (other as? Self) == self }
}

extension ExecutorDefinition {
    package var reportStages: [LoadSettings.Stage]? { nil }
}

/// An open model: iterations start on a schedule, whatever the target's latency; VUs serve the arrivals.
package protocol OpenModelExecutor: ExecutorDefinition {
    /// When each arrival is due.
    var schedule: ArrivalSchedule { get }
    /// The VUs that serve arrivals and the backlog for arrivals that find none free.
    var vus: OpenModelVUs { get }
}

extension OpenModelExecutor {
    package var issuingSeconds: Double { schedule.duration }
    package var maxVUs: Int { vus.max }
}

/// A closed model: VUs loop, each sending its next iteration when the last one is recorded.
package protocol ClosedModelExecutor: ExecutorDefinition {
    /// A pause after each iteration, fixed or uniform in [min, max] seconds.
    var thinkTime: ThinkTime? { get }
    /// What VU `vu` does next, having finished `done` iterations, at `t` seconds.
    func step(vu: Int, done: Int, at t: Double) -> ClosedStep
}

/// Every executor a scenario may name. Adding one: its file (a type conforming to `OpenModelExecutor` or
/// `ClosedModelExecutor`, or `CapacitySearch`, which runs steps of another), its line here, and its block in
/// `scenarios/schema.json`.
package enum ExecutorRegistry {
    package static let all: [any ExecutorDefinition.Type] = [
        ConstantArrivalRate.self,
        RampingArrivalRate.self,
        ConstantVUs.self,
        RampingVUs.self,
        PerVUIterations.self,
        SharedIterations.self,
        CapacitySearch.self,
    ]

    /// The known names, sorted, for error messages.
    package static var names: [String] { all.map { $0.name }.sorted() }

    package static func named(_ name: String) -> (any ExecutorDefinition.Type)? { all.first { $0.name == name } }
}
