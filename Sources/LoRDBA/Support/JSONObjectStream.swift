/// A JSON object written member by member, for documents too large to hold whole: an array
/// member can be written item by item (each item a value, or text serialized earlier at the same
/// depth), and the text so far handed on with ``take()``. The bytes equal
/// ``JSONValue/serialized(indent:)`` of the same object built whole.
struct JSONObjectStream {
    let indent: Int?
    private var out: [UInt8] = []
    private var members = 0
    private var items = 0
    private var inArray = false

    /// Starts the object (`{`).
    init(indent: Int?) {
        self.indent = indent
        out.append(UInt8(ascii: "{"))
    }

    /// The depth of an array's items: the object's members are at depth 1.
    static let itemLevel = 2

    /// Writes one member whose value is whole.
    mutating func member(_ key: String, _ value: JSONValue) {
        precondition(!inArray, "JSONObjectStream: a member inside an open array")
        startMember(key)
        value.write(to: &out, indent: indent, level: 1)
    }

    /// Opens an array member; its items follow, then ``endArray()``.
    mutating func beginArray(_ key: String) {
        precondition(!inArray, "JSONObjectStream: an array inside an open array")
        startMember(key)
        out.append(UInt8(ascii: "["))
        inArray = true
        items = 0
    }

    /// Writes one item of the open array.
    mutating func item(_ value: JSONValue) {
        startItem()
        value.write(to: &out, indent: indent, level: Self.itemLevel)
    }

    /// Writes one item of the open array from its text, serialized at ``itemLevel`` with this
    /// stream's indent (``JSONValue/serializedBytes(indent:level:)``).
    mutating func item(serialized text: some Collection<UInt8>) {
        startItem()
        out.append(contentsOf: text)
    }

    /// Closes the open array (`[]` when it has no items).
    mutating func endArray() {
        precondition(inArray, "JSONObjectStream: no open array")
        if items > 0 { newline(1) }
        out.append(UInt8(ascii: "]"))
        inArray = false
    }

    /// Closes the object and returns the rest of its text.
    mutating func finish() -> [UInt8] {
        precondition(!inArray, "JSONObjectStream: finished inside an open array")
        if members > 0 { newline(0) }
        out.append(UInt8(ascii: "}"))
        return take()
    }

    /// The text written since the last call, for the caller to pass on.
    mutating func take() -> [UInt8] {
        defer { out.removeAll(keepingCapacity: true) }
        return out
    }

    /// The bytes buffered and not yet taken.
    var buffered: Int { out.count }

    private mutating func startMember(_ key: String) {
        if members > 0 { out.append(UInt8(ascii: ",")) }
        members += 1
        newline(1)
        JSONValue.string(key).write(to: &out, indent: indent, level: 1)
        out.append(UInt8(ascii: ":"))
        if indent != nil { out.append(UInt8(ascii: " ")) }
    }

    private mutating func startItem() {
        precondition(inArray, "JSONObjectStream: an item outside an array")
        if items > 0 { out.append(UInt8(ascii: ",")) }
        items += 1
        newline(Self.itemLevel)
    }

    private mutating func newline(_ depth: Int) {
        guard let indent else { return }
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * depth))
    }
}

extension JSONValue {
    /// ``serializedBytes(indent:)`` of this value as it stands `level` deep in a document, so
    /// that it can be written into one later (``JSONObjectStream/item(serialized:)``).
    func serializedBytes(indent: Int?, level: Int) -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out, indent: indent, level: level)
        return out
    }
}
