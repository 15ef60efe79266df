import NIOCore
import NIOSSL
import PreflightCore

/// Where a transport connects and how, the same for HTTP/1.1 and HTTP/2: the target's address, resolved once
/// before the run (blocking DNS), and the TLS context its scheme asks for.
struct TargetEndpoint: Sendable {
    /// Nil when the host did not resolve: every connect then fails as a `connect` error.
    var address: SocketAddress?
    /// Why the host did not resolve.
    var resolutionError: String?
    var tls: NIOSSLContext?
    /// SNI: the host name, never an IP address.
    var serverHostname: String?

    /// `alpn`: the protocols the TLS handshake offers (none for HTTP/1.1, `h2` only for HTTP/2).
    init(target: TargetURL, http: HTTPSettings, alpn: [String] = []) throws {
        do {
            address = try SocketAddress.makeAddressResolvingHost(target.host, port: target.port)
        } catch {
            address = nil
            resolutionError = "cannot resolve host \(target.host)"
        }
        if target.isTLS {
            var config = TLSConfiguration.makeClientConfiguration()
            if http.insecureSkipVerify { config.certificateVerification = .none }
            config.applicationProtocols = alpn
            tls = try NIOSSLContext(configuration: config)
            let isIP = (try? SocketAddress(ipAddress: target.host, port: 0)) != nil
            serverHostname = isIP ? nil : target.host
        }
    }
}
