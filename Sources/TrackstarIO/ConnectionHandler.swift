// The contract between the I/O layer and the application: bytes in, responses out, per read.
import TrackstarCore

/// What the I/O layer tells the handler about the connection a batch of bytes came from.
public struct ConnectionContext: Sendable {
    public var peer: PeerAddress
    /// Index of the loop (and so of the shard) running this connection.
    public var loopIndex: Int
    /// Wall-clock time of this read, in milliseconds since the Unix epoch.
    public var nowMillis: Int64
    public init(peer: PeerAddress, loopIndex: Int, nowMillis: Int64) {
        self.peer = peer; self.loopIndex = loopIndex; self.nowMillis = nowMillis
    }
}

/// What the handler did with a batch of input.
public struct ProcessOutcome: Sendable {
    /// Bytes of input fully handled; the rest is kept for the next call.
    public var consumed: Int
    /// Close the connection once the output is written.
    public var close: Bool
    /// Processing stopped because the output is nearly full, not for want of input.
    public var outputFull: Bool
    /// Requests answered in this batch (a failed durability barrier answers each of them 503).
    public var answered: Int
    /// The close answers a request refused before its end (a parse failure: 400, 413, 431…), so the
    /// client may still be sending it: the answer must leave at once, never wait for the FIN
    /// (closing over unread input resets the connection and would drop a corked answer).
    public var refused: Bool
    public init(consumed: Int, close: Bool, outputFull: Bool, answered: Int = 0, refused: Bool = false) {
        self.consumed = consumed; self.close = close; self.outputFull = outputFull; self.answered = answered
        self.refused = refused
    }
}

/// The application side of a connection. Called on the owning loop's thread only, once per read
/// (not once per request), which is why a class-bound protocol's single dynamic call is acceptable.
public protocol ConnectionHandler: AnyObject {
    /// Bytes every response is guaranteed to fit in; processing stops when less output is free.
    var maxResponseBytes: Int { get }
    /// Parses and answers every complete request at the start of `input`, writing to `output`.
    func process(_ input: UnsafeRawBufferPointer, output: inout ByteWriter, context: ConnectionContext) -> ProcessOutcome
    /// Writes the answer for a request that did not arrive in time (408), if any.
    func timeoutResponse(output: inout ByteWriter)
    /// Writes the answer for a connection refused because the server is at its connection cap.
    func overloadResponse(output: inout ByteWriter)
    /// True when answers must wait for a durability barrier (an fdatasync of the files appended to)
    /// before they are sent: `fsync = "always"`, group-committed once per loop iteration.
    var holdsResponses: Bool { get }
    /// Adds the files appended to since the last barrier (called on the loop thread).
    func collectDirtyFiles(into files: inout FileList)
    /// A durability barrier finished; `syncError` is the first failed sync's errno (0: all synced).
    /// True sends the held answers; false replaces each with `syncFailureResponse` (nothing is
    /// acknowledged). Called on the loop thread.
    func durabilityBarrierFinished(syncError: Int32) -> Bool
    /// Writes the answer for a request whose record could not be made durable (503).
    func syncFailureResponse(output: inout ByteWriter, close: Bool)
    /// False while held answers must wait for something other than a sync (the admin loop: a
    /// catalog change not yet taken by every request loop). The loop asks again at each of its
    /// iterations (a post to its mailbox, or its 1 s sweep timer, makes one). Called on the loop thread.
    var heldAnswersMayGo: Bool { get }
}

extension ConnectionHandler {
    /// Handlers that never hold answers: release only what synced.
    public func durabilityBarrierFinished(syncError: Int32) -> Bool { syncError == 0 }
    public func syncFailureResponse(output: inout ByteWriter, close: Bool) { overloadResponse(output: &output) }
    /// Handlers that hold answers only for syncs.
    public var heldAnswersMayGo: Bool { true }
}
