// The contract between the exporter and a reporting store: open (schema, committed positions), write
// a batch exactly once, close. Implemented by SQLite, ClickHouse, and the tests' in-memory fake.
import TrackstarStore

/// A reporting store. Called from the exporter's thread only.
public protocol ExportSink: AnyObject {
    /// Names the store for messages, e.g. "SQLite /var/lib/trackstar/report.sqlite".
    var label: String { get }
    /// Connects, creates the schema if needed, and returns the committed positions (shards it has
    /// never seen are absent). Called again after any failure, so a sink may reconnect here.
    func open() throws(ExportError) -> [ExportPosition]
    /// Writes the batch's rows and commits `batch.positions` so that, whatever happens, a row is
    /// stored once: in one transaction with the positions, or idempotently on the row's id with
    /// the positions written after the rows.
    func write(_ batch: ExportBatch, from source: ExportSource) throws(ExportError)
    /// Removes the rows of records at or past `positions` and makes those the committed positions.
    /// Called after `open` for the shards whose logs are shorter than the store's positions: recovery
    /// cut records after a machine crash, and their rows must not stay (no phantom rows). Once it
    /// returns, a new record reusing a cut sequence number is written as a new row.
    func retract(to positions: [ExportPosition]) throws(ExportError)
    /// Releases connections; `open` may be called again afterwards.
    func close()
    /// Per shard and log, the furthest record whose row may be stored though its position was not
    /// committed (a sink that inserts rows before their positions marks this first), as `open` read
    /// it. When recovery cut a log below it, the exporter retracts to the committed position, so rows
    /// written ahead of their positions do not outlive their records. Default: none (a sink that
    /// commits rows and positions together).
    func writtenPositions() -> [ExportPosition]
}

extension ExportSink {
    public func writtenPositions() -> [ExportPosition] { [] }
}
