import HTTPTypes
import Hummingbird
import Prometheus

/// Records every request's route, status and duration into `APIMetrics`, and how many are in flight.
struct MetricsRecorder<Context: RequestContext>: RouterMiddleware {
    let metrics: APIMetrics

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let inFlight = metrics.inFlight
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let response = try await next(request, context)
            metrics.request(
                route: context.endpointPath ?? "unmatched",
                method: request.method.rawValue,
                status: response.status.code,
                duration: ContinuousClock.now - start
            )
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(
                route: context.endpointPath ?? "unmatched",
                method: request.method.rawValue,
                status: status,
                duration: ContinuousClock.now - start
            )
            throw error
        }
    }
}
