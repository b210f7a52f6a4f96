/// Why a member of a JSON object was refused. Each format words it in its own errors; the
/// description is the wording of the `.lba` table.
public enum JSONMemberProblem: Sendable, Equatable, CustomStringConvertible {
    /// The value read as an object is something else.
    case notAnObject(found: JSONValue)
    case missing(key: String)
    /// `expected` is the wanted kind with its article ("a string", "an integer", "true or false").
    case wrongType(key: String, found: JSONValue, expected: String)
    /// An integer that must not be negative is.
    case negative(key: String, value: Int64)
    /// A member no reader asked for (only refused by ``JSONObjectReader/finish()``).
    case unknownMember(key: String)

    public var description: String {
        switch self {
        case .notAnObject(let found): "expected an object, found \(MessageText.article(found.typeName))"
        case .missing(let key): "missing member \"\(key)\""
        case .wrongType(let key, let found, let expected):
            "member \"\(key)\" is \(MessageText.article(found.typeName)), expected \(expected)"
        case .negative(let key, let value): "member \"\(key)\" is negative (\(value))"
        case .unknownMember(let key): "unknown member \(MessageText.quoted(key))"
        }
    }
}

/// Typed, strict access to the members of one JSON object (parsed by ``JSONParser``, which has
/// already refused duplicate keys, bad syntax, non-finite numbers and deep nesting): the one
/// way the safetensors header, the adapter configs and the `.lba` table read their objects.
///
/// Integers must be written as integers (`1.0` is not an integer), types are never coerced,
/// and ``finish()`` refuses members nobody read. Problems are turned into the caller's error
/// type by `failure`, with the reader's current `context`.
public struct JSONObjectReader<Failure: Error> {
    /// The object's members in document order.
    public let members: [(String, JSONValue)]
    /// Where the object sits, for messages (e.g. `module "q_proj"`); passed to `failure`.
    public var context: String
    /// Whether a member holding `null` reads as absent (configs written by Python libraries).
    private let nullMeansAbsent: Bool
    /// Whether ``finish()`` refuses members that were never read.
    private let refusesUnknownMembers: Bool
    private let failure: (String, JSONMemberProblem) -> Failure
    private var used = Set<String>()

    /// Reads `value`, which must be an object.
    public init(_ value: JSONValue, context: String = "", nullMeansAbsent: Bool = false,
                refusesUnknownMembers: Bool = true,
                failure: @escaping (String, JSONMemberProblem) -> Failure) throws(Failure) {
        guard let members = value.objectValue else { throw failure(context, .notAnObject(found: value)) }
        self.members = members
        self.context = context
        self.nullMeansAbsent = nullMeansAbsent
        self.refusesUnknownMembers = refusesUnknownMembers
        self.failure = failure
    }

    /// The caller's error for `problem` at the current context.
    public func fail(_ problem: JSONMemberProblem) -> Failure { failure(context, problem) }

    /// The member `key` (marked as read), or `nil` when absent (or `null`, with `nullMeansAbsent`).
    public mutating func value(_ key: String) -> JSONValue? {
        used.insert(key)
        guard let value = members.first(where: { $0.0 == key })?.1 else { return nil }
        return nullMeansAbsent && value == .null ? nil : value
    }

    /// The member `key`; missing is an error.
    public mutating func required(_ key: String) throws(Failure) -> JSONValue {
        guard let value = value(key) else { throw fail(.missing(key: key)) }
        return value
    }

    public mutating func string(_ key: String) throws(Failure) -> String {
        let value = try required(key)
        return try typed(key, value, "a string", \.stringValue)
    }

    public mutating func optionalString(_ key: String) throws(Failure) -> String? {
        try value(key).map { (v) throws(Failure) in try typed(key, v, "a string", \.stringValue) }
    }

    /// A non-negative integer, written without fraction or exponent.
    public mutating func nonNegativeInteger(_ key: String) throws(Failure) -> Int {
        let value = try required(key)
        return try nonNegative(key, value)
    }

    public mutating func optionalNonNegativeInteger(_ key: String) throws(Failure) -> Int? {
        try value(key).map { (v) throws(Failure) in try nonNegative(key, v) }
    }

    /// A number (JSON numbers are finite: the parser refuses NaN and ±∞).
    public mutating func number(_ key: String) throws(Failure) -> Double {
        let value = try required(key)
        return try typed(key, value, "a number", \.doubleValue)
    }

    public mutating func optionalNumber(_ key: String) throws(Failure) -> Double? {
        try value(key).map { (v) throws(Failure) in try typed(key, v, "a number", \.doubleValue) }
    }

    public mutating func optionalBool(_ key: String) throws(Failure) -> Bool? {
        try value(key).map { (v) throws(Failure) in try typed(key, v, "true or false", \.boolValue) }
    }

    public mutating func array(_ key: String) throws(Failure) -> [JSONValue] {
        let value = try required(key)
        return try typed(key, value, "an array", \.arrayValue)
    }

    /// The member `key`, which must be an object, as a reader with the same rules and `context`.
    public mutating func object(_ key: String, context: String? = nil) throws(Failure) -> JSONObjectReader {
        let value = try required(key)
        return try nested(key, value, context: context)
    }

    public mutating func optionalObject(_ key: String, context: String? = nil) throws(Failure) -> JSONObjectReader? {
        try value(key).map { (v) throws(Failure) in try nested(key, v, context: context) }
    }

    /// Refuses members that were never read (unless made with `refusesUnknownMembers: false`).
    public func finish() throws(Failure) {
        guard refusesUnknownMembers else { return }
        for (key, _) in members where !used.contains(key) { throw fail(.unknownMember(key: key)) }
    }

    private func typed<T>(_ key: String, _ value: JSONValue, _ expected: String,
                          _ extract: (JSONValue) -> T?) throws(Failure) -> T {
        guard let result = extract(value) else { throw fail(.wrongType(key: key, found: value, expected: expected)) }
        return result
    }

    private func nonNegative(_ key: String, _ value: JSONValue) throws(Failure) -> Int {
        guard case .integer(let number) = value else {
            throw fail(.wrongType(key: key, found: value, expected: "an integer"))
        }
        guard number >= 0 else { throw fail(.negative(key: key, value: number)) }
        return Int(number)
    }

    private func nested(_ key: String, _ value: JSONValue, context: String?) throws(Failure) -> JSONObjectReader {
        guard value.objectValue != nil else { throw fail(.wrongType(key: key, found: value, expected: "an object")) }
        return try JSONObjectReader(value, context: context ?? self.context, nullMeansAbsent: nullMeansAbsent,
                                    refusesUnknownMembers: refusesUnknownMembers, failure: failure)
    }
}
