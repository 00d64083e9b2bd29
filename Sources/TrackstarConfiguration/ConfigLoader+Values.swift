// The loader's typed readers: each takes a TOML node and the field's name, returns the value or nil,
// and reports a problem naming the field, its line and how to write the value instead.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import TrackstarCore

extension ConfigReader {
    mutating func wrongType(_ node: TOMLNode, _ field: String, _ expected: String) {
        report(node.line, "\(field): expected \(expected), got \(node.value.summary)")
    }

    mutating func table(_ node: TOMLNode, _ field: String) -> TOMLTable? {
        if case .table(let table) = node.value { return table }
        wrongType(node, field, "a table")
        return nil
    }

    mutating func string(_ node: TOMLNode, _ field: String) -> String? {
        if case .string(let value) = node.value { return value }
        wrongType(node, field, "a string in quotes")
        return nil
    }

    mutating func nonEmptyString(_ node: TOMLNode, _ field: String) -> String? {
        guard let value = string(node, field) else { return nil }
        if value.isEmpty { report(node.line, "\(field): must not be empty; remove the key or give it a value"); return nil }
        return value
    }

    /// A string that must be one of an enumeration's raw values; `expected` lists them for the message.
    mutating func keyword<Value: RawRepresentable<String>>(_ node: TOMLNode, _ field: String, _ type: Value.Type,
                                                           expected: String) -> Value? {
        guard let text = string(node, field) else { return nil }
        guard let value = Value(rawValue: text) else {
            report(node.line, "\(field): expected \(expected), got \"\(text)\"")
            return nil
        }
        return value
    }

    mutating func exportURL(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        if case .failure(let error) = ExportURL.parse(text) {
            report(node.line, "\(field): \(error.message)")
            return nil
        }
        return text
    }

    mutating func clickHouseDatabase(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        guard ExportURL.isValidDatabase(text) else {
            report(node.line, "\(field): \"\(text)\" is not a plain database name; use letters, digits and _ (not starting with a digit), at most 64")
            return nil
        }
        return text
    }

    /// A ClickHouse user for basic authentication: not empty, no ':' (it separates user and password), no control characters.
    mutating func clickHouseUser(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = nonEmptyString(node, field) else { return nil }
        guard !text.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 < 0x20 || $0 == 0x7f }) else {
            report(node.line, "\(field): \"\(text)\" cannot be sent as a user name (no ':' or control characters); use the name ClickHouse's users.xml gives")
            return nil
        }
        return text
    }

    mutating func bool(_ node: TOMLNode, _ field: String) -> Bool? {
        if case .boolean(let value) = node.value { return value }
        wrongType(node, field, "true or false")
        return nil
    }

    mutating func integer(_ node: TOMLNode, _ field: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .integer(let value) = node.value else {
            wrongType(node, field, "a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        guard value >= range.lowerBound, value <= range.upperBound else {
            report(node.line, "\(field): must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
            return nil
        }
        return Int(value)
    }

    mutating func id(_ node: TOMLNode, _ field: String) -> UInt32? {
        integer(node, field, 1...Int(UInt32.max)).map { UInt32($0) }
    }

    /// `status`: "active" or "paused" (a value of another type is named as such in the message).
    mutating func choice<Choice: RawRepresentable<String>>(_ node: TOMLNode, _ field: String, _ type: Choice.Type) -> Choice? {
        let expected = #""active" or "paused""#
        guard case .string = node.value else { wrongType(node, field, expected); return nil }
        return keyword(node, field, type, expected: expected)
    }

    mutating func duration(_ node: TOMLNode, _ field: String, allowZero: Bool) -> Int64? {
        guard case .string(let text) = node.value else {
            var message = "\(field): expected a duration string such as \"30s\" or \"250ms\", got \(node.value.summary)"
            if case .integer(let number) = node.value { message += "; write it with a unit, e.g. \"\(number)s\"" }
            report(node.line, message)
            return nil
        }
        switch ConfigParse.durationMillis(text) {
        case .failure(let error):
            report(node.line, "\(field): \(error.message)")
            return nil
        case .success(0) where !allowZero:
            report(node.line, "\(field): must be longer than 0; write e.g. \"30s\"")
            return nil
        case .success(let millis):
            return millis
        }
    }

    mutating func money(_ node: TOMLNode, _ field: String) -> Micros? {
        let amount: Result<Micros, ConfigValueError>
        switch node.value {
        case .integer(let units):
            let (micros, overflow) = units.multipliedReportingOverflow(by: 1_000_000)
            amount = overflow ? .failure(ConfigValueError("\(units) is too large an amount")) : .success(micros)
        case .float(_, let text):
            amount = ConfigParse.micros(text)
        default:
            wrongType(node, field, "a number such as 2.50 (no quotes)")
            return nil
        }
        switch amount {
        case .failure(let error): report(node.line, "\(field): \(error.message)"); return nil
        case .success(let micros) where micros < 0: report(node.line, "\(field): must not be negative"); return nil
        case .success(let micros) where micros >= ConfigParse.maxAmountMicros:
            report(node.line, "\(field): must be below 1000000000000 (amounts are summed in reports; a larger one cannot be)")
            return nil
        case .success(let micros): return micros
        }
    }

    mutating func currency(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        guard text.utf8.count == 3, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            report(node.line, "\(field): expected a 3-letter uppercase currency code such as \"USD\", got \"\(text)\"")
            return nil
        }
        guard ISO4217.contains(text) else {
            report(node.line, "\(field): \"\(text)\" is not an ISO 4217 currency code; use one such as \"USD\" or \"EUR\"")
            return nil
        }
        return text
    }

    mutating func url(_ node: TOMLNode, _ field: String, macros: [String]) -> String? {
        guard let text = string(node, field) else { return nil }
        if let error = ConfigParse.checkURLTemplate(text, macros: macros) {
            report(node.line, "\(field): \(error.message)")
            return nil
        }
        return text
    }

    mutating func listen(_ node: TOMLNode, _ field: String) -> (String, UInt16)? {
        guard let text = string(node, field) else { return nil }
        switch ConfigParse.listenAddress(text) {
        case .success(let address): return (address.host, address.port)
        case .failure(let error): report(node.line, "\(field): \(error.message)"); return nil
        }
    }

    mutating func networks(_ node: TOMLNode, _ field: String) -> [CIDR] {
        guard case .array(let items) = node.value else {
            wrongType(node, field, "an array of networks such as [\"127.0.0.0/8\", \"::1/128\"]")
            return []
        }
        if items.isEmpty {
            report(node.line, "\(field): the list is empty, which would refuse everyone; remove the key to allow any address")
        }
        var networks: [CIDR] = []
        for (index, item) in items.enumerated() {
            let itemField = "\(field)[\(index)]"
            guard let text = string(item, itemField) else { continue }
            switch ConfigParse.cidr(text) {
            case .success(let network): networks.append(network)
            case .failure(let error): report(item.line, "\(itemField): \(error.message)")
            }
        }
        return networks
    }
}
