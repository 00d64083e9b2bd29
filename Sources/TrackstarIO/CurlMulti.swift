// libcurl's multi-socket interface on a `LoopThread`: curl asks to watch sockets and set a timeout,
// the C driver (CTrackstarIOShims, multi-uv.c's shape) answers with libuv polls and a timer, and each
// finished transfer is handed back on the loop thread. Callers set up their easy handles with curl
// themselves (CTrackstarCurl); only the loop side lives here, with the rest of libuv.
import CTrackstarIOShims

/// Concurrent HTTP transfers driven by one background loop. Use on that loop's thread only.
public final class CurlMulti {
    /// A finished transfer: the easy handle (removed from the multi handle, the callee's again) and
    /// its CURLcode (0 for any HTTP answer).
    public typealias Done = (_ easy: UnsafeMutableRawPointer, _ result: Int32) -> Void

    var driver: OpaquePointer?
    let done: Done

    /// A driver on `loop`'s thread with per-host and total connection caps (0: curl's default).
    public init(on loop: LoopThread, maxPerHost: Int, maxTotal: Int, done: @escaping Done) throws(IOError) {
        self.done = done
        driver = nil
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let made = ts_curl_driver_new(loop.rawLoop, { context, easy, result in
            Unmanaged<CurlMulti>.fromOpaque(context!).takeUnretainedValue().done(easy!, result)
        }, context, maxPerHost, maxTotal) else {
            throw IOError("ts_curl_driver_new (curl_multi_init or uv_timer_init, \(loop.name))", -12)  // ENOMEM-like: no handle
        }
        driver = made
    }

    /// Starts a transfer; false (and the handle still the caller's) when curl refuses it.
    public func add(_ easy: UnsafeMutableRawPointer) -> Bool {
        guard let driver else { return false }
        return ts_curl_driver_add(driver, easy) == 0
    }

    /// Aborts a running transfer without calling `done`.
    public func remove(_ easy: UnsafeMutableRawPointer) {
        guard let driver else { return }
        ts_curl_driver_remove(driver, easy)
    }

    /// Transfers running now.
    public var running: Int { driver.map { Int(ts_curl_driver_running($0)) } ?? 0 }

    /// Drops running transfers (no callbacks) and closes the driver's handles; the loop finishes the
    /// closes as it winds down.
    public func close() {
        guard let driver else { return }
        ts_curl_driver_close(driver)
        self.driver = nil
    }
}
