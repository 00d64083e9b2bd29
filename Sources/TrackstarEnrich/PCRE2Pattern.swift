// PCRE2 compiled patterns and per-thread match state, the only code that touches PCRE2's pointers.
// A compiled, JIT-compiled pattern is immutable and may be matched from many threads at once; each
// matching thread brings its own PCRE2Matcher (match data, match context, JIT stack).
import CPCRE2

/// One compiled pattern; immutable after init.
final class PCRE2Pattern: @unchecked Sendable {
    // @unchecked: PCRE2 documents compiled code (JIT included) as shareable between threads once
    // compiled; nothing writes it after init, and deinit frees it.
    let code: OpaquePointer
    /// Whether PCRE2's JIT compiled it (otherwise matches run the interpreter).
    let jitCompiled: Bool
    /// The number of capture groups.
    let captureCount: Int

    /// Compiles `pattern`; the error string is PCRE2's message with the offset.
    init(_ pattern: String, caseless: Bool) throws(PCRE2CompileError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let options: UInt32 = caseless ? UInt32(PCRE2_CASELESS) : 0
        let utf8 = Array(pattern.utf8)
        guard let code = utf8.withUnsafeBufferPointer({ pcre2_compile_8($0.baseAddress, $0.count, options, &errorCode, &errorOffset, nil) }) else {
            throw PCRE2CompileError(message: Self.message(errorCode), offset: errorOffset)
        }
        self.code = code
        jitCompiled = pcre2_jit_compile_8(code, UInt32(PCRE2_JIT_COMPLETE)) == 0
        var captures: UInt32 = 0
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_CAPTURECOUNT), &captures)
        captureCount = Int(captures)
    }

    deinit { pcre2_code_free_8(code) }

    /// Matches `subject` against `code` (a `PCRE2Pattern.code`, JIT-compiled when `jit`) with
    /// `matcher`'s state; true on a match, whose groups `matcher` then holds. A match that hits the
    /// matcher's limit counts as no match.
    @inline(__always)
    static func matches(_ code: OpaquePointer, jit: Bool, _ subject: UnsafeRawBufferPointer, _ matcher: PCRE2Matcher) -> Bool {
        // The classifier answers the empty agent itself; a buffer without storage matches nothing.
        guard let start = subject.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let result = jit
            ? pcre2_jit_match_8(code, start, subject.count, 0, 0, matcher.matchData, matcher.context)
            : pcre2_match_8(code, start, subject.count, 0, 0, matcher.matchData, matcher.context)
        if result == PCRE2_ERROR_MATCHLIMIT || result == PCRE2_ERROR_JIT_STACKLIMIT || result == PCRE2_ERROR_DEPTHLIMIT {
            matcher.limitHits &+= 1
        }
        return result > 0
    }

    private static func message(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &buffer, buffer.count)
        return length > 0 ? String(decoding: buffer.prefix(Int(length)), as: UTF8.self) : "error \(code)"
    }
}

/// PCRE2's refusal of a pattern.
struct PCRE2CompileError: Error {
    var message: String
    var offset: Int
}

/// The state one thread matches with: match data sized for the largest pattern, a match context with
/// a match limit, and a JIT stack. Not thread-safe.
final class PCRE2Matcher {
    let matchData: OpaquePointer
    let context: OpaquePointer
    private let jitStack: OpaquePointer
    private let ovector: UnsafeMutablePointer<Int>
    /// Matches abandoned at the limit since init.
    var limitHits = 0

    /// State for patterns with up to `captureCount` groups; `matchLimit` bounds one match's work
    /// (PCRE2's match limit, which its JIT honours too).
    init(captureCount: Int, matchLimit: UInt32) {
        matchData = pcre2_match_data_create_8(UInt32(captureCount + 1), nil)
        context = pcre2_match_context_create_8(nil)
        jitStack = pcre2_jit_stack_create_8(32 * 1024, 512 * 1024, nil)
        pcre2_jit_stack_assign_8(context, nil, UnsafeMutableRawPointer(jitStack))
        pcre2_set_match_limit_8(context, matchLimit)
        pcre2_set_depth_limit_8(context, matchLimit)
        ovector = pcre2_get_ovector_pointer_8(matchData)
    }

    deinit {
        pcre2_match_data_free_8(matchData)
        pcre2_match_context_free_8(context)
        pcre2_jit_stack_free_8(jitStack)
    }

    /// The byte range of group `group` of the last match, or nil when it did not take part.
    @inline(__always)
    func group(_ group: Int) -> Range<Int>? {
        let start = ovector[2 * group], end = ovector[2 * group + 1]
        guard start >= 0, end >= start else { return nil }   // PCRE2_UNSET is ~0, negative as Int
        return start..<end
    }
}
