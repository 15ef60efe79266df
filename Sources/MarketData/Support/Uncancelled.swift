/// Runs `body` to completion even when the calling task has been cancelled, and returns its result.
///
/// A graceful shutdown cancels the scheduler's task, and a cancelled task's database calls throw at once; the rows
/// that say what happened (the run's end, an attempt already sent) must still be written. The work runs in a task of
/// its own that the caller awaits, so its lifetime stays inside the caller's scope.
func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await body() }.value
}
