// The memory libcurl writes into during one postback attempt — its error message buffer and the
// first bytes of the partner's answer — reached from curl through raw pointers; the only pointer
// work of the dispatcher's transfers.
//
// Invariants:
// - An easy handle points at a `TransferStorage` (CURLOPT_ERRORBUFFER, CURLOPT_WRITEDATA) only while
//   the `Transfer` owning it is alive: the dispatcher detaches the handle (`detach`: both set to
//   NULL) or cleans it up before it lets the transfer go, so curl never writes into freed memory.
//   The pointers are unretained for that reason, not counted.
// - curl calls the write function on the dispatcher's loop thread, inside the multi handle's calls;
//   nothing else touches `excerpt` while a transfer runs.
// - `errorBuffer` holds CURL_ERROR_SIZE bytes, zeroed at start, so it always reads as a C string.
import CTrackstarCurl

/// curl's error buffer and the answer's first bytes for one attempt.
final class TransferStorage {
    /// How many bytes of the answer are kept.
    static let excerptLimit = 200
    private(set) var excerpt: [UInt8] = []
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init() {
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }
    deinit { errorBuffer.deallocate() }

    /// Points `easy`'s CURLOPT_ERRORBUFFER here; curl's result code.
    func setErrorBuffer(on easy: UnsafeMutableRawPointer) -> Int32 {
        ts_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
    }

    /// Makes `easy` keep the answer's first `excerptLimit` bytes here (CURLOPT_WRITEFUNCTION and
    /// CURLOPT_WRITEDATA); curl's result code.
    func setWriteFunction(on easy: UnsafeMutableRawPointer) -> Int32 {
        ts_curl_setopt_write(easy, { data, size, count, user in
            let total = size * count
            guard let user else { return total }  // a detached handle (never called so: no transfer runs)
            let storage = Unmanaged<TransferStorage>.fromOpaque(user).takeUnretainedValue()
            if let data, storage.excerpt.count < TransferStorage.excerptLimit {
                let take = min(total, TransferStorage.excerptLimit - storage.excerpt.count)
                data.withMemoryRebound(to: UInt8.self, capacity: take) {
                    storage.excerpt.append(contentsOf: UnsafeBufferPointer(start: $0, count: take))
                }
            }
            return total  // the rest is read and dropped
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Points `easy`'s error buffer and write data at nothing; false when curl refused (the handle
    /// must then be cleaned up, not pooled).
    static func detach(from easy: UnsafeMutableRawPointer) -> Bool {
        ts_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, nil) == Int32(CURLE_OK.rawValue)
            && ts_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, nil) == Int32(CURLE_OK.rawValue)
    }

    /// The answer's first bytes, printable ASCII only.
    var excerptText: String {
        String(decoding: excerpt.map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: " ") }, as: UTF8.self)
    }

    /// curl's message for a failed transfer: its error buffer, else the code's description.
    func errorText(_ result: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
    }
}
