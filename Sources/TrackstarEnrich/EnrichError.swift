// The one error type of click enrichment: loading a database or rule file, or a bad rule entry.
// Every message names the file or the entry and says what to do.

/// A refusal while loading enrichment data; `description` names the path or the entry.
public struct EnrichError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed, naming the file, line or entry, and what to do about it.
    public var message: String
    /// A refusal with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
