import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PreflightCore

/// `--dashboard [HOST:PORT]`: a page served while the run goes (k6's web dashboard: default 127.0.0.1:5665) that
/// updates live over server-sent events — latency percentiles, throughput and errors over time, VUs, the thresholds
/// as they stand — and at the end shows the verdict and links the report, served from the report folder. The page
/// is one self-contained HTML file (inline script and SVG, nothing fetched), so it works offline like the report.
///
/// A page opened mid-run gets everything so far first: the events are kept (at most `historyLimit`) and replayed.
public final class DashboardSink: LiveSink, Sendable {
    /// Events kept for pages that connect late; past it the oldest buckets are forgotten (a run start is kept).
    public static let historyLimit = 20_000
    /// The default address, k6's.
    public static let defaultAddress = "127.0.0.1:5665"

    public let label: String
    /// The port it listens on (the one asked for, or the one given for port 0).
    public let port: Int
    let channel: any Channel
    let state: NIOLockedValueBox<State>

    struct State {
        var history: [String] = []
        var clients: [ObjectIdentifier: any Channel] = [:]
        /// The report folder of the last run that ended: `/report/…` serves its files.
        var report: URL?
    }

    /// Whether `host` is a loopback address (anything else is warned about: the figures are then visible there).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Parses `HOST:PORT` (`[::1]:5665` for IPv6); nil when it is not one.
    public static func address(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// Starts listening on `host:port`; a port in use or an address that cannot be bound is a problem naming the
    /// option.
    public static func start(host: String, port: Int) async throws(StreamOption.Problem) -> DashboardSink {
        let state = NIOLockedValueBox(State())
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DashboardHandler(state: state))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return DashboardSink(channel: channel, state: state, host: host)
        } catch {
            throw StreamOption.Problem(
                description: "--dashboard \(host):\(port): cannot listen there (\(error)); choose another port"
            )
        }
    }

    private init(channel: any Channel, state: NIOLockedValueBox<State>, host: String) {
        self.channel = channel
        self.state = state
        port = channel.localAddress?.port ?? 0
        let shown = host.contains(":") ? "[\(host)]" : host
        label = "dashboard at http://\(shown):\(port)/"
    }

    public func handle(_ event: LiveEvent) async {
        let frame: String
        switch event {
        case .started(let run): frame = Self.frame("run", run)
        case .bucket(let bucket): frame = Self.frame("bucket", bucket)
        case .standing(let thresholds): frame = Self.frame("thresholds", thresholds)
        case .milestone(let milestone): frame = Self.frame("milestone", milestone)
        case .finished(let end):
            frame = Self.frame("end", end)
            state.withLockedValue { $0.report = end.report.map { URL(fileURLWithPath: $0) } }
        }
        let clients = state.withLockedValue { s -> [any Channel] in
            s.history.append(frame)
            if s.history.count > Self.historyLimit { s.history.remove(at: 1) }
            return Array(s.clients.values)
        }
        for client in clients {
            client.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: frame))), promise: nil)
        }
    }

    public func close() async {
        let clients = state.withLockedValue { s -> [any Channel] in
            defer { s.clients = [:] }
            return Array(s.clients.values)
        }
        for client in clients {
            client.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in client.close(promise: nil) }
        }
        try? await channel.close()
    }

    public func warnings() -> [String] { [] }

    /// One server-sent event: its name and its data, JSON on one line.
    static func frame(_ name: String, _ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return "event: \(name)\ndata: \(json)\n\n"
    }
}

/// Serves the page, the event stream and, after the run, the report's files.
final class DashboardHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: NIOLockedValueBox<DashboardSink.State>
    private var head: HTTPRequestHead?
    private var streaming = false

    init(state: NIOLockedValueBox<DashboardSink.State>) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, to: head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if streaming {
            let id = ObjectIdentifier(context.channel)
            state.withLockedValue { _ = $0.clients.removeValue(forKey: id) }
        }
        context.fireChannelInactive()
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        guard head.method == .GET else {
            return send(context, .methodNotAllowed, "text/plain", Array("GET only\n".utf8))
        }
        switch path {
        case "/", "/index.html":
            send(context, .ok, "text/html; charset=utf-8", Array(DashboardPage.html.utf8))
        case "/events":
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/event-stream")
            headers.add(name: "Cache-Control", value: "no-cache")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers)))
            )
            .whenComplete { _ in }
            streaming = true
            let channel = context.channel
            // The history and the registration under one lock: no event falls between them.
            let history = state.withLockedValue { s -> [String] in
                s.clients[ObjectIdentifier(channel)] = channel
                return s.history
            }
            let replay = history.joined()
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: ": preflight\n\n" + replay)))))
                .whenComplete { _ in }
        default:
            guard path.hasPrefix("/report/"), let folder = state.withLockedValue({ $0.report }) else {
                return send(context, .notFound, "text/plain", Array("not found\n".utf8))
            }
            // One file of the report folder, by its bare name.
            let name = String(path.dropFirst("/report/".count))
            guard !name.isEmpty, !name.contains("/"), !name.hasPrefix("."),
                let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path)
            else { return send(context, .notFound, "text/plain", Array("not found\n".utf8)) }
            let type =
                name.hasSuffix(".html")
                ? "text/html; charset=utf-8"
                : name.hasSuffix(".json") ? "application/json" : "text/plain; charset=utf-8"
            send(context, .ok, type, Array(data))
        }
    }

    private func send(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ type: String, _ body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))))
            .whenComplete { _ in }
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body))))).whenComplete { _ in }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in }
    }
}
