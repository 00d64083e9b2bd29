// Formats one log event as one line: text (`TIME LEVEL trackstar: message key=value …`, logfmt-style)
// or JSON (`{"ts":…,"level":…,"msg":…,KEY:VALUE…}`). Pure string building, so it is tested in-process.
import Logging
import TrackstarCore
import TrackstarConfiguration

/// One log event's line in either format, with its trailing newline.
enum LogLine {
    /// Keys the JSON line uses itself; metadata under these names is written with a leading `_`.
    static let reservedKeys: Set<String> = ["ts", "level", "msg"]

    static func format(_ format: LogFormat, millis: Int64, level: Logger.Level, label: String,
                       message: String, metadata: Logger.Metadata) -> String {
        switch format {
        case .text: text(millis: millis, level: level, label: label, message: message, metadata: metadata)
        case .json: json(millis: millis, level: level, message: message, metadata: metadata)
        }
    }

    /// `2026-11-30T01:02:03.456Z info trackstar: message key=value …`, keys sorted so lines compare.
    static func text(millis: Int64, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var line = "\(timestamp(millis: millis)) \(level.rawValue) \(label): "
        JSONText.appendEscaped(message, to: &line)  // JSON's escapes keep the line one line
        for key in metadata.keys.sorted() {
            line += " \(key)="
            logfmtValue(plain(metadata[key]!), into: &line)
        }
        return line + "\n"
    }

    /// `{"ts":"…","level":"info","msg":"…",…}`: the metadata keys at the top level, sorted.
    static func json(millis: Int64, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = "{\"ts\":\"\(timestamp(millis: millis))\",\"level\":\"\(level.rawValue)\",\"msg\":"
        JSONText.appendQuoted(message, to: &line)
        let named = metadata.map { (name: reservedKeys.contains($0.key) ? "_" + $0.key : $0.key, value: $0.value) }
        for (name, value) in named.sorted(by: { $0.name < $1.name }) {
            line += ","
            JSONText.appendQuoted(name, to: &line)
            line += ":"
            jsonValue(value, into: &line)
        }
        return line + "}\n"
    }

    // MARK: Text

    /// A metadata value as plain text (arrays and dictionaries in brackets).
    static func plain(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let items): "[" + items.map(plain).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.keys.sorted().map { "\($0)=\(plain(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A logfmt value: bare when it is non-empty and has no space, quote, `=` or control character;
    /// otherwise in double quotes with `\"`, `\\` and control characters escaped.
    static func logfmtValue(_ value: String, into line: inout String) {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0.value <= 0x20 || $0.value == 0x7f || $0 == "\"" || $0 == "=" || $0 == "\\"
        }
        guard needsQuotes else { line += value; return }
        line += "\""
        JSONText.appendEscaped(value, to: &line)
        line += "\""
    }

    // MARK: JSON

    static func jsonValue(_ value: Logger.MetadataValue, into line: inout String) {
        switch value {
        case .string(let s):
            JSONText.appendQuoted(s, to: &line)
        case .stringConvertible(let c):
            // Whole numbers and booleans keep their type, so `count` can be summed by a log pipeline.
            if c is any BinaryInteger || c is Bool || (c as? Double)?.isFinite == true {
                line += c.description
            } else {
                JSONText.appendQuoted(c.description, to: &line)
            }
        case .array(let items):
            line += "["
            for (i, item) in items.enumerated() {
                if i > 0 { line += "," }
                jsonValue(item, into: &line)
            }
            line += "]"
        case .dictionary(let d):
            line += "{"
            for (i, key) in d.keys.sorted().enumerated() {
                if i > 0 { line += "," }
                JSONText.appendQuoted(key, to: &line)
                line += ":"
                jsonValue(d[key]!, into: &line)
            }
            line += "}"
        }
    }

    // MARK: Time

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
    static func timestamp(millis: Int64) -> String { UTCTime.text(millis: millis, style: .isoMillis) }
}
