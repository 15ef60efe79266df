import Logging
import PreflightCore

/// A document a long command runs in a batch: a scenario for `run`, a drill for `drill`.
protocol BatchDocument: Sendable {
    /// The file it came from, for errors.
    var file: String { get }
    /// What every line about it must mask.
    var secrets: Secrets { get }
}

extension Scenario: BatchDocument {}
extension Drill: BatchDocument {}

/// The batch `run` and `drill` share: every file is loaded before anything runs, with every problem of every file
/// reported at once; then each document runs in turn, its output through its own secrets, until an interrupt; the
/// exit status is the worst of them.
enum Batch {
    /// Loads each of `files` with `load`; the documents, or every file's problems. `what` names the documents in the
    /// error for an empty list ("scenario files"), `hint` says how to name some.
    static func load<Document>(
        paths: [String],
        files: ([String]) throws(ScenarioError) -> [String],
        what: String,
        hint: String,
        _ load: (String) throws(ScenarioError) -> Document
    ) -> Result<[Document], ScenarioErrors> {
        let found: [String]
        do {
            found = try files(paths)
        } catch {
            return .failure(ScenarioErrors(errors: [error]))
        }
        guard !found.isEmpty else {
            let problem = ScenarioProblem(path: "$", message: "no \(what) found", hint: hint)
            return .failure(
                ScenarioErrors(errors: [ScenarioError(file: paths.joined(separator: " "), problems: [problem])])
            )
        }
        var documents: [Document] = []
        var errors: [ScenarioError] = []
        for file in found {
            do {
                documents.append(try load(file))
            } catch {
                errors.append(error)
            }
        }
        return errors.isEmpty ? .success(documents) : .failure(ScenarioErrors(errors: errors))
    }

    /// Runs `documents` one after the other with `body`, which gets a console and logger that mask the document's
    /// secrets; stops before the next one once `control` is interrupted; an error is reported and counts as an
    /// internal error. Returns the worst exit status.
    static func run<Document: BatchDocument>(
        _ documents: [Document],
        control: RunControl,
        console: Console,
        logger: Logger,
        _ body: (Document, Console, Logger) async throws -> ExitStatus
    ) async -> ExitStatus {
        var statuses: [ExitStatus] = []
        for document in documents {
            guard !control.isInterrupted else { break }
            do {
                statuses.append(
                    try await body(document, console.redacting(document.secrets), logger.redacting(document.secrets))
                )
            } catch {
                console.redacting(document.secrets).err("error: \(document.file): \(error)")
                statuses.append(.internalError)
            }
        }
        return ExitStatus.worst(statuses)
    }
}
