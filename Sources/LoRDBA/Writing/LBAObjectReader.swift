/// Typed access to the members of one JSON object, tracking which were read.
struct ObjectReader {
    let members: [(String, JSONValue)]
    var context: String
    let reader: TableReader
    private var used = Set<String>()

    init(_ value: JSONValue, context: String, reader: TableReader) throws(LBAError) {
        guard let members = value.objectValue else {
            throw reader.fail(context, "expected an object, found \(article(value.typeName))")
        }
        self.members = members
        self.context = context
        self.reader = reader
    }

    private mutating func value(_ key: String) -> JSONValue? {
        used.insert(key)
        return members.first { $0.0 == key }?.1
    }

    private mutating func required(_ key: String) throws(LBAError) -> JSONValue {
        guard let value = value(key) else { throw reader.fail(context, "missing member \"\(key)\"") }
        return value
    }

    private func wrongType(_ key: String, _ value: JSONValue, _ expected: String) -> LBAError {
        reader.fail(context, "member \"\(key)\" is \(article(value.typeName)), expected \(expected)")
    }

    mutating func string(_ key: String) throws(LBAError) -> String {
        let value = try required(key)
        guard let text = value.stringValue else { throw wrongType(key, value, "a string") }
        return text
    }

    mutating func optionalString(_ key: String) throws(LBAError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.stringValue else { throw wrongType(key, value, "a string") }
        return text
    }

    /// A non-negative integer (written without fraction or exponent).
    mutating func int(_ key: String) throws(LBAError) -> Int {
        let value = try required(key)
        guard case .integer(let number) = value else { throw wrongType(key, value, "an integer") }
        guard number >= 0 else { throw reader.fail(context, "member \"\(key)\" is negative (\(number))") }
        return Int(number)
    }

    mutating func optionalInt(_ key: String) throws(LBAError) -> Int? {
        guard members.contains(where: { $0.0 == key }) else { used.insert(key); return nil }
        return try int(key)
    }

    /// A finite number.
    mutating func number(_ key: String) throws(LBAError) -> Double {
        let value = try required(key)
        guard let number = value.doubleValue else { throw wrongType(key, value, "a number") }
        return number
    }

    mutating func array(_ key: String) throws(LBAError) -> [JSONValue] {
        let value = try required(key)
        guard let items = value.arrayValue else { throw wrongType(key, value, "an array") }
        return items
    }

    mutating func object(_ key: String) throws(LBAError) -> [(String, JSONValue)] {
        let value = try required(key)
        guard let members = value.objectValue else { throw wrongType(key, value, "an object") }
        return members
    }

    mutating func optionalObject(_ key: String) throws(LBAError) -> [(String, JSONValue)]? {
        guard let value = value(key) else { return nil }
        guard let members = value.objectValue else { throw wrongType(key, value, "an object") }
        return members
    }

    /// Refuses members that were never read, unless the file is of a newer minor version.
    func finish() throws(LBAError) {
        guard reader.strict else { return }
        for (key, _) in members where !used.contains(key) {
            throw reader.fail(context, "unknown member \(LBAError.quote(key))")
        }
    }
}

/// "a number", "an object", …
func article(_ noun: String) -> String {
    (noun.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + noun
}
