// The request handler without sockets: requests in, responses out, in process. Benchmarks measure
// the click and postback paths through it, and tests can use it where a socket adds nothing.
import TrackstarCore
import TrackstarIO
import TrackstarStore
import TrackstarConfiguration

/// One loop's handler over an engine of its own, driven directly with request bytes.
public final class LocalEndpoint: @unchecked Sendable {
    let engine: Engine
    let handler: RequestHandler
    let output: UnsafeMutableRawPointer
    public let outputCapacity = 1 << 20

    /// Builds the engine from `config` (keys from its data dir) with `loops` shards; serves shard 0.
    public init(config: TrackstarConfig, loops: Int = 1) throws(StartupError) {
        engine = try Engine.open(config: config, loops: loops, recovery: RecoveryOptions())
        handler = RequestHandler(engine: engine, shard: 0)
        output = .allocate(byteCount: outputCapacity, alignment: 16)
    }

    deinit { output.deallocate() }

    /// What recovery found and did when this endpoint opened its data dir.
    public var recoveryNotes: [String] { engine.recoveryNotes }

    /// One turn of the conversion index's maintainer (a server runs it every 10 ms on its own
    /// thread); returns the generations started and dropped.
    public func maintainIndex(nowMillis: Int64) -> (started: Int, dropped: Int) {
        let report = engine.index.maintain(nowMillis: nowMillis)
        return (report.started.count, report.dropped.count)
    }

    /// The conversion index's live keys, capacity and next growth step.
    public var indexStats: IndexStats { engine.index.stats() }

    /// Answers every complete request in `input`; returns the response bytes (valid until the next call).
    public func handle(_ input: UnsafeRawBufferPointer, peer: PeerAddress = PeerAddress(high: 0, low: 0xffff_7f00_0001),
                       nowMillis: Int64) -> UnsafeRawBufferPointer {
        var writer = ByteWriter(base: output, capacity: outputCapacity)
        _ = handler.process(input, output: &writer, context: ConnectionContext(peer: peer, loopIndex: 0, nowMillis: nowMillis))
        return writer.written
    }
}
