// libFuzzer harness: the config loader on arbitrary UTF-8 (invalid sequences are repaired to U+FFFD,
// as any String would be). Checks that loading never crashes and:
// - is deterministic;
// - a failure lists at least one problem, ordered by line, each line within the file (0 = whole file);
// - every TOML node's line is within the file; syntax problems are on lines 1...lineCount;
// - a success is in range: ids nonzero and unique, limits within their documented bounds,
//   durations positive, every offer URL compiles as a click template, and is on http(s);
// - every accepted config compiles into the runtime catalog (RuntimeCheck), as `serve` would;
// - `TOML.displayKey` of any key (without control characters) parses back to the same key.
import FuzzSupport
import TrackstarCore
import TrackstarConfiguration
import TrackstarServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lineCount = text.utf8.reduce(1) { $0 + ($1 == 10 ? 1 : 0) }

    let (root, syntaxProblems) = TOML.parse(text)
    for problem in syntaxProblems {
        require(problem.line >= 1 && problem.line <= lineCount, "syntax problem on line \(problem.line) of \(lineCount): \(problem.message)")
        require(!problem.message.isEmpty, "empty problem message")
    }
    var keys: [String] = []
    walk(root, lineCount: lineCount, keys: &keys, depth: 0)
    for key in keys.prefix(8) where key.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
        let (again, problems) = TOML.parse(TOML.displayKey(key) + " = 1\n")
        require(problems.isEmpty && again.keys == [key], "displayKey(\(key.debugDescription)) = \(TOML.displayKey(key)) does not parse back: \(problems)")
    }

    let result = ConfigLoader.load(text: text)
    require(result == ConfigLoader.load(text: text), "load is not deterministic")
    switch result {
    case .failure(let problems):
        require(!problems.isEmpty, "failure without problems")
        var previous = 0
        for problem in problems {
            require(problem.line >= previous, "problems not ordered by line")
            require(problem.line >= 0 && problem.line <= lineCount, "problem on line \(problem.line) of \(lineCount)")
            previous = problem.line
        }
    case .success(let config):
        check(config)
    }
    return 0
}

func walk(_ table: TOMLTable, lineCount: Int, keys: inout [String], depth: Int) {
    for (key, node) in table.entries {
        keys.append(key)
        walk(node, lineCount: lineCount, keys: &keys, depth: depth + 1)
    }
}

func walk(_ node: TOMLNode, lineCount: Int, keys: inout [String], depth: Int) {
    require(node.line >= 1 && node.line <= lineCount, "node on line \(node.line) of \(lineCount)")
    switch node.value {
    case .table(let table): walk(table, lineCount: lineCount, keys: &keys, depth: depth + 1)
    case .array(let items): for item in items { walk(item, lineCount: lineCount, keys: &keys, depth: depth + 1) }
    default: break
    }
}

func check(_ config: TrackstarConfig) {
    let server = config.server
    require(server.loops.map { (1...64).contains($0) } ?? true, "loops \(String(describing: server.loops))")
    require((0...255).contains(server.nodeID), "node_id \(server.nodeID)")
    require((1...1_000_000).contains(server.maxConnections), "max_connections")
    require((256...(1 << 20)).contains(server.maxRequestLineBytes), "max_request_line_bytes")
    require((256...(1 << 20)).contains(server.maxHeaderBytes), "max_header_bytes")
    require((1...1024).contains(server.maxHeaderCount), "max_header_count")
    require((0...(1 << 26)).contains(server.maxBodyBytes), "max_body_bytes")
    require((1...4096).contains(server.maxValueBytes), "max_value_bytes")
    require(server.idleTimeoutMillis > 0 && server.headerTimeoutMillis > 0, "timeouts")
    require(!config.storage.dataDir.isEmpty, "data_dir")
    var offerIDs = Set<UInt32>()
    for offer in config.offers {
        require(offer.id != 0 && offerIDs.insert(offer.id).inserted, "offer id \(offer.id)")
        require(offer.clickLifetimeMillis > 0 && offer.minConversionDelayMillis >= 0, "offer durations")
        require(offer.payout >= 0 && offer.revenue >= 0, "offer money")
        require(offer.currency.utf8.count == 3, "currency \(offer.currency)")
        for url in [offer.url] + (offer.fallbackURL.map { [$0] } ?? []) {
            require(url.hasPrefix("http://") || url.hasPrefix("https://"), "offer url \(url.debugDescription)")
            do { _ = try URLTemplate(url, allowed: Macro.clickMacros) } catch {
                require(false, "accepted offer url \(url.debugDescription) does not compile: \(error)")
            }
        }
        var eventNames = Set<String>()
        for event in offer.events {
            require(eventNames.insert(event.name).inserted && !event.name.isEmpty, "event \(event.name)")
            require(event.payout >= 0 && event.revenue >= 0, "event money")
        }
    }
    var affiliateIDs = Set<UInt32>()
    for affiliate in config.affiliates {
        require(affiliate.id != 0 && affiliateIDs.insert(affiliate.id).inserted, "affiliate id \(affiliate.id)")
    }
    // What check-config accepts also starts: the runtime catalog (templates, dense tables, events)
    // builds from it without a problem or a trap.
    if let problem = RuntimeCheck.problem(in: config) { require(false, "accepted config does not compile: \(problem)") }
}
