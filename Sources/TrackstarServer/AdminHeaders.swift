// The few request-head fields the management API reads that the shared HTTP parser does not keep:
// the method as written, Authorization, If-Match and Content-Type. Admin path only (it allocates).

enum AdminHeaders {
    /// Fills `methodName`, `authorization`, `ifMatch` and `contentType` from a complete request head.
    static func read(_ head: UnsafeRawBufferPointer, into request: inout AdminRequest) {
        var start = 0
        while start < head.count, head[start] == 0x0d || head[start] == 0x0a { start += 1 }  // empty lines before the request line
        var lineNumber = 0
        while start < head.count {
            var end = start
            while end < head.count, head[end] != 0x0a { end += 1 }
            var lineEnd = end
            if lineEnd > start, head[lineEnd - 1] == 0x0d { lineEnd -= 1 }
            if lineEnd == start { return }  // the empty line ending the head
            let line = UnsafeRawBufferPointer(rebasing: head[start..<lineEnd])
            if lineNumber == 0 {
                let space = line.firstIndex(of: 0x20) ?? line.count
                request.methodName = String(decoding: line[..<space], as: UTF8.self)
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
                let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingOWS
                switch name {
                case "authorization": request.authorization = value
                case "if-match": request.ifMatch = value
                case "content-type": request.contentType = value.lowercased()
                default: break
                }
            }
            lineNumber += 1
            start = end + 1
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingOWS: String { Substring(self).trimmingSpaces }
}
