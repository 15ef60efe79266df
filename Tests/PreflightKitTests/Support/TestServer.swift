import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import PreflightCore
@testable import PreflightKit

/// Tests that measure time, drive load or start processes run one at a time, so that on a 2-core machine they do
/// not load the machine for each other; the pure unit tests run in parallel around them.
@Suite(.serialized) enum Serial {}

/// Runs a Hummingbird server on a free loopback port for the duration of `body`.
func withTestServer<T: Sendable>(
    _ router: Router<BasicRequestContext>,
    server: HTTPServerBuilder = .http1(),
    _ body: @Sendable (Int) async throws -> T
) async throws -> T {
    var logger = Logger(label: "test-server")
    logger.logLevel = .critical
    let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: logger
    )
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await app.runService(gracefulShutdownSignals: [])
            return nil
        }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestServerError.noPort }
        let result = try await body(port)
        group.cancelAll()
        return result
    }
}

enum TestServerError: Error { case noPort }

/// Counts requests and the most seen in flight at once.
final class RequestCounter: Sendable {
    private let state = NIOLockedValueBox<(total: Int, inFlight: Int, maxInFlight: Int)>((0, 0, 0))

    var total: Int { state.withLockedValue { $0.total } }
    var maxInFlight: Int { state.withLockedValue { $0.maxInFlight } }

    func enter() {
        state.withLockedValue {
            $0.total += 1
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
    }

    func leave() { state.withLockedValue { $0.inFlight -= 1 } }
}

/// A scenario built from JSON text, with the target pointed at `port`.
func scenario(_ json: String, port: Int, file: String = "test.json") throws -> Scenario {
    let loader = ScenarioLoader(variables: ["PORT": String(port)], environment: [:])
    return try loader.load(data: Data(json.utf8), file: file, baseDirectory: URL(fileURLWithPath: "/tmp"))
}

/// Runs a scenario against the real transport and returns the result.
func runScenario(
    _ s: Scenario,
    seed: UInt64 = 1,
    eventLoops: Int = 2,
    control: RunControl = RunControl()
) async throws
    -> RunResult
{
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let transport = try TransportFactory(scenario: s).real()
    let runner = LoadRunner(
        scenario: s,
        transport: transport,
        options: RunOptions(seed: seed, eventLoops: eventLoops),
        logger: logger
    )
    return try await runner.run(control: control)
}

/// A router answering `GET path` with "ok", counting requests (and holding each for `hold`).
func countingRouter(
    _ path: RouterPath = "/ok",
    counter: RequestCounter = RequestCounter(),
    hold: Duration? = nil
)
    -> Router<BasicRequestContext>
{
    let router = Router()
    router.get(path) { _, _ in
        counter.enter()
        defer { counter.leave() }
        if let hold { try await Task.sleep(for: hold) }
        return "ok"
    }
    return router
}

/// The result of a child process.
struct Finished {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program; `whileRunning` gets its process id; waits for the exit without blocking a thread.
func runProcess(
    _ executable: URL,
    _ arguments: [String],
    in dir: URL? = nil,
    environment: [String: String] = [:],
    whileRunning: @Sendable (Int32) async throws -> Void = { _ in }
) async throws -> Finished {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let dir { process.currentDirectoryURL = dir }
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
    process.terminationHandler = { p in
        exited.yield(p.terminationStatus)
        exited.finish()
    }
    try process.run()
    // Read both pipes while the process runs (so a large output can not fill a pipe and stall it), on GCD
    // threads: a blocking read must not hold one of the few cooperative threads the test servers need.
    async let stdout = readToEnd(out.fileHandleForReading)
    async let stderr = readToEnd(err.fileHandleForReading)
    try await whileRunning(process.processIdentifier)
    var iterator = exits.makeAsyncIterator()
    let status = await iterator.next() ?? -1
    return Finished(
        status: status,
        stdout: String(decoding: await stdout, as: UTF8.self),
        stderr: String(decoding: await stderr, as: UTF8.self)
    )
}

private func readToEnd(_ handle: FileHandle) async -> Data {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: handle.readDataToEndOfFile()) }
    }
}

/// A request as the HTTP/1.1 transport writes it to `target` (the plan builds messages; the encoder owns the bytes).
func http1(_ request: PreparedRequest, target: String = "http://127.0.0.1") -> String {
    let url = try! TargetURL.parse(target).get()
    return String(buffer: HTTP1Encoder.encoded(request, target: url))
}
