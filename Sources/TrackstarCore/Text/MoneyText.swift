// Money as text for code that builds Strings (reports, partner postback values): ByteWriter's
// appendMicros, the one money formatter, run into a small stack buffer.

/// String-facing money formatting over `ByteWriter.appendMicros`.
public enum MoneyText {
    /// `micros` as a decimal with at least `minimumFractionDigits` places and no other trailing
    /// zeros: (2_500_000, 2) → "2.50", (1_234_567, 2) → "1.234567", (4_000_000, 0) → "4".
    public static func decimal(_ micros: Int64, minimumFractionDigits: Int = 0) -> String {
        // The longest is Int64.min: a sign, 13 whole digits, the point and 6 decimals (21 bytes).
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 1) { buffer in
            var writer = ByteWriter(base: buffer.baseAddress!, capacity: buffer.count)
            writer.appendMicros(micros, minimumFractionDigits: minimumFractionDigits)
            return String(decoding: writer.written, as: UTF8.self)
        }
    }
}
