// The loader's part for the core sections: `[server]` (listener, limits, proxies, receive path),
// `[storage]` (data dir, durability, index sizes) and `[export]` (the reporting sink and its connection).

import TrackstarCore

extension ConfigReader {
    mutating func readServer(_ table: TOMLTable) -> ServerConfig {
        var server = ServerConfig()
        for (key, node) in table.entries {
            let name = "server." + key
            switch key {
            case "listen": if let (host, port) = listen(node, name) { server.host = host; server.port = port }
            case "loops": if let v = integer(node, name, 1...ClickID.maxShards) { server.loops = v }
            case "node_id": if let v = integer(node, name, 0...255) { server.nodeID = v }
            case "max_connections": if let v = integer(node, name, 1...1_000_000) { server.maxConnections = v }
            case "max_request_line_bytes": if let v = integer(node, name, 256...1 << 20) { server.maxRequestLineBytes = v }
            case "max_header_bytes": if let v = integer(node, name, 256...1 << 20) { server.maxHeaderBytes = v }
            case "max_header_count": if let v = integer(node, name, 1...1024) { server.maxHeaderCount = v }
            case "max_body_bytes": if let v = integer(node, name, 0...1 << 26) { server.maxBodyBytes = v }
            case "max_value_bytes": if let v = integer(node, name, 1...4096) { server.maxValueBytes = v }
            case "idle_timeout": if let v = duration(node, name, allowZero: false) { server.idleTimeoutMillis = v }
            case "header_timeout": if let v = duration(node, name, allowZero: false) { server.headerTimeoutMillis = v }
            case "trusted_proxies": server.trustedProxies = networks(node, name)
            case "io": if let v = keyword(node, name, ServerIO.self, expected: #""auto", "io_uring" or "epoll""#) { server.io = v }
            case "postback_profile": if let v = nonEmptyString(node, name) { server.postbackProfile = v }
            case "trafficback_url": if let v = url(node, name, macros: ConfigParse.offerURLMacros) { server.trafficbackURL = v }
            default: unknownKey(key, node, name, known: Self.serverKeys)
            }
        }
        return server
    }

    mutating func readStorage(_ table: TOMLTable) -> StorageConfig {
        var storage = StorageConfig()
        for (key, node) in table.entries {
            let name = "storage." + key
            switch key {
            case "data_dir": if let v = nonEmptyString(node, name) { storage.dataDir = v }
            case "max_conversions": if let v = integer(node, name, 1024...1 << 32) { storage.maxConversions = v }
            case "fsync": if let v = keyword(node, name, FsyncPolicy.self, expected: #""always", "interval" or "none""#) { storage.fsync = v }
            case "fsync_interval": if let v = duration(node, name, allowZero: false) { storage.fsyncIntervalMillis = v }
            case "snapshot_interval": if let v = duration(node, name, allowZero: false) { storage.snapshotIntervalMillis = v }
            case "retention_grace": if let v = duration(node, name, allowZero: true) { storage.retentionGraceMillis = v }
            case "index_initial_capacity": if let v = integer(node, name, 1024...1 << 32) { storage.indexInitialCapacity = v }
            case "txid_window": if let v = duration(node, name, allowZero: false) { storage.txidWindowMillis = v }
            case "unique_clicks_per_window": if let v = integer(node, name, 1024...1 << 36) { storage.uniqueClicksPerWindow = v }
            default: unknownKey(key, node, name, known: Self.storageKeys)
            }
        }
        return storage
    }

    mutating func readExport(_ table: TOMLTable, line: Int) -> ExportConfig {
        var export = ExportConfig()
        for (key, node) in table.entries {
            let name = "export." + key
            switch key {
            case "sink": if let v = keyword(node, name, ExportSinkKind.self, expected: #""sqlite", "clickhouse" or "none""#) { export.sink = v }
            case "batch_rows": if let v = integer(node, name, 1...1_000_000) { export.batchRows = v }
            case "batch_age": if let v = duration(node, name, allowZero: false) { export.batchAgeMillis = v }
            case "lag_warning": if let v = duration(node, name, allowZero: false) { export.lagWarningMillis = v }
            case "url": if let v = exportURL(node, name) { export.url = v }
            case "database": if let v = clickHouseDatabase(node, name) { export.database = v }
            case "user": if let v = clickHouseUser(node, name) { export.user = v }
            case "password": if let v = string(node, name) { export.password = v }
            case "ca_file": if let v = nonEmptyString(node, name) { export.caFile = v }
            case "batch_bytes": if let v = integer(node, name, 65_536...1 << 30) { export.batchBytes = v }
            case "exporters": if let v = exporterCount(node, name) { export.exporters = v }
            default: unknownKey(key, node, name, known: Self.exportKeys)
            }
        }
        finishExport(&export, table)
        if let password = table["password"], table["user"] == nil && !table.isIncomplete {
            report(password.line, "export.password: set without user; add user = \"NAME\" (the ClickHouse user it belongs to) below [export]")
        }
        if export.sink == .clickhouse && table["url"] == nil && !table.isIncomplete {
            report(table["sink"]?.line ?? line,
                   "export: sink = \"clickhouse\" needs url; add url = \"http://127.0.0.1:8123\" (the ClickHouse HTTP interface) below [export]")
        }
        return export
    }
}
