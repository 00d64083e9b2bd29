// What a connection costs the kernel, cut (issue 21, item 3): the listener accepts only once a request
// has arrived (TCP_DEFER_ACCEPT; epoll then reads it at the accept), and on io_uring the first receive
// is one-shot and the close goes through the ring, so a connection answered and closed leaves nothing
// to cancel; the last answer carries the FIN. Each cut can be switched off for A/B measurements with
// one binary (`TRACKSTAR_IO_WITHOUT`, see `loadtest/cpu-split.sh`).
#if canImport(Glibc)
import Glibc
#endif

/// The per-connection cuts in force; all on unless `TRACKSTAR_IO_WITHOUT` names some of them
/// (comma-separated: `defer_accept`, `receive_once`, `fin_with_answer`, `ring_close`). Read once, at
/// the first loop's start.
struct ConnectionCuts: Sendable {
    /// TCP_DEFER_ACCEPT on the listener, both paths: the kernel completes the handshake but queues
    /// the connection for accept only when its first data arrives (or after `deferAcceptSeconds`,
    /// when it accepts it anyway and the header timeout takes over), so the accept and the first
    /// receive are one wake-up and the receive finds the request there. On epoll the first read is
    /// then made at the accept, before the socket goes into epoll (`LoopServer.readAtAccept`).
    var deferAccept = true
    /// io_uring: the first receive after an accept is one-shot. It usually completes at submission
    /// with the request, so nothing is armed on the socket when the answer closes the connection (no
    /// poll to add and remove, no cancel); a connection that stays open gets its multishot receive then.
    var receiveOnce = true
    /// Both paths: the last answer before a close is sent with MSG_MORE, so the close's FIN rides in
    /// its segment instead of a packet of its own (`Connection.flushClosing`).
    var finWithAnswer = true
    /// io_uring: the socket is closed by a close request in the ring (no close(2) of its own; no
    /// completion unless it fails), applied with the next wait after the requests queued before it.
    var ringClose = true

    /// Seconds a silent connection waits in the kernel before it is accepted anyway (nginx's
    /// `deferred` uses the same 1 s: one SYN-ACK retransmission, whose ACK completes the accept).
    static let deferAcceptSeconds: Int32 = 1

    static let current: ConnectionCuts = {
        var cuts = ConnectionCuts()
        guard let text = getenv("TRACKSTAR_IO_WITHOUT").map({ String(cString: $0) }) else { return cuts }
        for name in text.split(separator: ",") {
            switch name {
            case "defer_accept": cuts.deferAccept = false
            case "receive_once": cuts.receiveOnce = false
            case "ring_close": cuts.ringClose = false
            case "fin_with_answer": cuts.finWithAnswer = false
            default: break
            }
        }
        return cuts
    }()
}

