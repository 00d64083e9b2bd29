// In-process: a server that was started, served a click and stopped lets go of its whole object graph
// once dropped. A reference cycle (the engine holding the loops' handlers, which hold the engine) kept
// it alive until exit, where LeakSanitizer reported it (issue 12); this finds such a cycle without one.
import Foundation
import Testing
@testable import TrackstarServer
import TrackstarConfiguration
import TrackstarStore

@Suite struct ServerTeardownTests {
    /// The default test config, on ephemeral ports, in `dataDir`, without a location database.
    static func config(dataDir: String) throws -> TrackstarConfig {
        guard case .success(var config) = ConfigLoader.load(text: LiveServer.defaultConfig) else {
            throw StartupError("the default test config does not load")
        }
        config.storage.dataDir = dataDir
        config.server.loops = 2
        config.admin.host = "127.0.0.1"
        config.admin.port = 0
        config.geo.database = .off
        return config
    }

    @Test func aStoppedServerReleasesTheEngineItsTablesAndItsLoops() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-teardown-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        weak var engine: Engine?
        weak var table: RecordTable?
        weak var handler: RequestHandler?
        weak var admin: AdminHandler?
        do {
            let server = try TrackstarServer(config: try Self.config(dataDir: dir), source: LiveServer.defaultConfig)
            try server.start()
            let click = try TestConnection(port: server.port).get("/click?offer_id=1&aff_id=7")
            #expect(click.status == 302)
            engine = server.engine
            table = server.engine.clicks.first
            handler = server.handlers.first
            admin = server.admin?.handler
            server.stop()
        }
        #expect(engine == nil, "the engine outlived its server: a reference cycle holds it")
        #expect(table == nil, "a click table outlived its server")
        #expect(handler == nil, "a loop's handler outlived its server")
        #expect(admin == nil, "the admin handler outlived its server")
    }
}
