import Foundation
import Logging
import Testing

@testable import MarketData

/// `serve --db`: a SQLite path or a PostgreSQL URL, the password only from the environment.
@Suite struct StoreLocationTests {
    @Test func aPathIsASQLiteFileAndAURLIsPostgreSQL() throws {
        #expect(try StoreLocation("/tmp/a.sqlite", environment: [:]) == .sqlite(path: "/tmp/a.sqlite"))
        let location = try StoreLocation(
            "postgresql://api@db.local:6543/market?schema=md_1&sslmode=require&max_connections=5",
            environment: ["PGPASSWORD": "s3cret"]
        )
        guard case .postgres(let c) = location else {
            Issue.record("not postgres: \(location)")
            return
        }
        #expect(c.host == "db.local")
        #expect(c.port == 6543)
        #expect(c.username == "api")
        #expect(c.password == "s3cret")
        #expect(c.database == "market")
        #expect(c.schema == "md_1")
        #expect(c.tls == .require)
        #expect(c.maxConnections == 5)
        #expect(!location.description.contains("s3cret"))
        #expect(location.description == "postgres://api@db.local:6543/market?schema=md_1")
    }

    @Test func thePasswordComesFromTheNamedVariableBeforePGPASSWORD() throws {
        let env = ["PGPASSWORD": "a", "API_DB_PASSWORD": "b"]
        guard
            case .postgres(let c) = try StoreLocation(
                "postgres://u@127.0.0.1/d",
                passwordVariable: "API_DB_PASSWORD",
                environment: env
            )
        else { throw StoreLocationError("expected postgres") }
        #expect(c.password == "b")
        #expect(c.port == 5432)
        #expect(c.tls == .prefer)
        guard case .postgres(let none) = try StoreLocation("postgres://u@[::1]/d", environment: [:]) else {
            throw StoreLocationError("expected postgres")
        }
        #expect(none.password == nil)
        #expect(none.host == "::1")
    }

    @Test(arguments: [
        ("postgres://u:hunter2@127.0.0.1/d", "must not carry a password"),
        ("postgres://127.0.0.1/d", "needs a user"),
        ("postgres://u@127.0.0.1/", "needs a database name"),
        ("postgres://u@127.0.0.1/d?schema=Bad-Name", "schema must match"),
        ("postgres://u@127.0.0.1/d?sslmode=verify-full", "sslmode must be disable, prefer or require"),
        ("postgres://u@127.0.0.1/d?max_connections=0", "max_connections must be 1…1000"),
        ("postgres://u@127.0.0.1/d?application_name=x", "unknown option \"application_name\""),
        ("postgres://", "is not a URL like"),
    ])
    func aBadURLIsRefusedNamingTheFixAndNeverEchoingAPassword(url: String, message: String) {
        #expect {
            try StoreLocation(url, environment: [:])
        } throws: { error in
            let text = (error as? StoreLocationError)?.description ?? ""
            return text.contains(message) && !text.contains("hunter2")
        }
    }

    @Test func aPasswordVariableThatIsUnsetOrGivenForSQLiteIsRefused() {
        #expect(throws: StoreLocationError.self) {
            try StoreLocation("postgres://u@127.0.0.1/d", passwordVariable: "MISSING", environment: [:])
        }
        #expect(throws: StoreLocationError.self) {
            try StoreLocation("/tmp/a.sqlite", passwordVariable: "PGPASSWORD", environment: ["PGPASSWORD": "x"])
        }
    }

    @Test(.enabled(if: Engine.postgresURL != nil))
    func aWrongPasswordFailsWithTheServersReasonNotAfterAMinuteOfRetries() async throws {
        var c = try Engine.postgresConfiguration(schema: "unused")
        c.password = "definitely-wrong"
        await #expect {
            try await withMarketStore(.postgres(c), logger: Engine.quietLogger) { _ in }
        } throws: { error in
            let text = "\(error)"
            return text.contains("28P01") && text.contains("PGPASSWORD") && !text.contains("definitely-wrong")
        }
        // The server's own reason (SQLSTATE 28P01) is what the login check adds: the pool alone retries for about a
        // minute and then reports only that its circuit breaker tripped. (No wall-clock bound: under the thread
        // sanitizer the SCRAM key derivation alone takes tens of seconds.)
        var closed = c
        closed.port = 1
        await #expect {
            try await withMarketStore(.postgres(closed), logger: Engine.quietLogger) { _ in }
        } throws: { error in "\(error)".contains("cannot connect") }
    }
}
