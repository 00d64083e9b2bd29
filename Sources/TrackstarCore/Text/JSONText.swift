// JSON string literals for code that builds Strings (log lines, reports, CLI output). The escaping
// is ByteWriter.appendJSONEscaped's, run into a scratch buffer, so there is one set of rules: '"' and
// '\' get a backslash, control bytes and DEL become \u00XX, everything else (UTF-8 included) stays.

/// String-facing JSON string escaping over ByteWriter's escaper.
public enum JSONText {
    /// `text` as a JSON string literal, quotes included.
    public static func quoted(_ text: String) -> String {
        var line = ""
        appendQuoted(text, to: &line)
        return line
    }

    /// Appends `text` as a JSON string literal (quotes included) to `line`.
    public static func appendQuoted(_ text: String, to line: inout String) {
        line += "\""
        appendEscaped(text, to: &line)
        line += "\""
    }

    /// Appends the inside of `text`'s JSON string literal (no quotes) to `line`.
    public static func appendEscaped(_ text: String, to line: inout String) {
        var text = text
        text.withUTF8 { bytes in
            // Six bytes a byte is the escaper's worst case (\u00XX), so the buffer never overflows.
            let capacity = bytes.count * 6
            guard capacity > 0 else { return }
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 1)
            defer { scratch.deallocate() }
            var writer = ByteWriter(base: scratch, capacity: capacity)
            writer.appendJSONEscaped(UnsafeRawBufferPointer(bytes))
            line += String(decoding: writer.written, as: UTF8.self)
        }
    }
}
