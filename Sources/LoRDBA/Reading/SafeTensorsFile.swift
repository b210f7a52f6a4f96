/// One tensor entry of a safetensors header, validated.
public struct SafeTensorInfo: Sendable, Equatable {
    /// The tensor's key in the header.
    public var name: String
    public var dtype: TensorDType
    /// Dimensions, outermost first; `[]` for a scalar.
    public var shape: [Int]
    /// Absolute byte offsets of the data in the file (not relative to the data buffer).
    public var dataRange: Range<Int>
    /// Product of `shape` (1 for a scalar, 0 for an empty tensor).
    public var elementCount: Int

    public init(name: String, dtype: TensorDType, shape: [Int], dataRange: Range<Int>, elementCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataRange = dataRange
        self.elementCount = elementCount
    }

    /// Number of bytes of data.
    public var byteCount: Int { dataRange.count }
}

/// A memory-mapped, fully validated `.safetensors` file.
///
/// Validation follows the reference implementation (header length limits, JSON object header,
/// known dtypes, overflow-checked sizes, a data buffer covered exactly by the tensors) and adds
/// rejection of duplicate keys and a strict `__metadata__` type check. Tensor data stays in the
/// map until a caller asks for it.
public final class SafeTensorsFile: Sendable {
    /// The largest header length accepted, as in the reference implementation.
    public static let maxHeaderLength = 100_000_000

    public let path: String
    /// Size of the file in bytes.
    public let fileSize: Int
    /// The `__metadata__` map (empty when absent or `null`).
    public let metadata: [String: String]
    /// Every tensor, sorted by name.
    public let tensors: [SafeTensorInfo]
    /// Length of the JSON header in bytes (the data buffer starts at `8 + headerLength`).
    public let headerLength: Int

    private let mapped: MappedFile
    private let index: [String: Int]

    /// Maps and validates the file at `path`.
    public init(path: String) throws(SafeTensorsError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw .cannotOpen(path: path, reason: Self.reason(of: error))
        }
        let parsed = try file.withBytes { bytes throws(SafeTensorsError) in
            try SafeTensorsHeaderParser(path: path, bytes: bytes).parse()
        }
        self.path = path
        self.fileSize = file.count
        self.mapped = file
        self.headerLength = parsed.headerLength
        self.metadata = parsed.metadata
        self.tensors = parsed.tensors
        var index: [String: Int] = [:]
        index.reserveCapacity(parsed.tensors.count)
        for (i, info) in parsed.tensors.enumerated() { index[info.name] = i }
        self.index = index
    }

    private static func reason(of error: FileError) -> String {
        let text = error.description
        let prefix = error.path + ": "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }

    /// The tensor called `name`, or `nil`.
    public func tensor(named name: String) -> SafeTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// Calls `body` with the tensor's bytes in the map; the pointer must not escape.
    public func withBytes<R, E: Error>(_ info: SafeTensorInfo, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(info.dataRange.lowerBound >= 0 && info.dataRange.upperBound <= fileSize,
                     "tensor \(info.name) does not belong to \(path)")
        return try mapped.withBytes { (all: UnsafeRawBufferPointer) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: all[info.dataRange]))
        }
    }

    /// The tensor's values as `Float` (exact for F16, BF16 and F32; F64 is rounded to nearest).
    /// - Throws: `SafeTensorsError.notFloat` for any other dtype.
    public func floats(_ info: SafeTensorInfo) throws(SafeTensorsError) -> [Float] {
        guard info.dtype.isConvertibleFloat else {
            throw .notFloat(path: path, tensor: info.name, dtype: info.dtype)
        }
        precondition(info.byteCount == info.elementCount * info.dtype.bitWidth / 8,
                     "tensor \(info.name) has inconsistent size")
        let count = info.elementCount
        return withBytes(info) { bytes in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                info.dtype.decodeFloats(bytes, count: count, into: buffer)
                initialized = count
            }
        }
    }

    /// A copy of the tensor's bytes exactly as stored (little-endian).
    public func rawBytes(_ info: SafeTensorInfo) -> [UInt8] {
        withBytes(info) { Array($0) }
    }

    /// Drops the pages holding the tensor's data from memory; reading it again faults them back in.
    public func release(_ info: SafeTensorInfo) {
        mapped.release(info.dataRange)
    }
}

/// Parses and validates the header of a mapped safetensors file.
struct SafeTensorsHeaderParser {
    let path: String
    let bytes: UnsafeRawBufferPointer

    /// What the header says: its length, the string metadata and the tensor entries.
    struct ParsedHeader {
        var headerLength: Int
        var metadata: [String: String]
        var tensors: [SafeTensorInfo]
    }

    /// A tensor entry after deserialisation, before layout validation.
    private struct Entry {
        var name: String
        var dtype: TensorDType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    func parse() throws(SafeTensorsError) -> ParsedHeader {
        let fileSize = bytes.count
        guard fileSize >= 8 else { throw .fileTooSmall(path: path, fileSize: fileSize) }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(SafeTensorsFile.maxHeaderLength) else {
            throw .headerTooLarge(path: path, headerLength: declared)
        }
        let n = Int(declared)
        guard 8 + n <= fileSize else {
            throw .invalidHeaderLength(path: path, headerLength: declared, fileSize: fileSize)
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        guard String(validating: header, as: UTF8.self) != nil else { throw .headerNotUTF8(path: path) }

        let root: JSONValue
        do {
            root = try JSONParser.parse(header)
        } catch {
            if case .duplicateKey(let key) = error { throw .duplicateKey(path: path, key: key) }
            throw .invalidHeaderJSON(path: path, reason: Self.reason(error))
        }
        guard let members = root.objectValue else { throw .headerNotObject(path: path, found: root.typeName) }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value)
            } else {
                entries.append(try parseEntry(name: name, value))
            }
        }

        let tensors = try validateLayout(entries, dataStart: 8 + n, fileSize: fileSize)
        return ParsedHeader(headerLength: n, metadata: metadata, tensors: tensors)
    }

    private static func reason(_ error: JSONError) -> String {
        let text = error.description
        let prefix = "invalid JSON: "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }

    private func parseMetadata(_ value: JSONValue) throws(SafeTensorsError) -> [String: String] {
        switch value {
        case .null:
            return [:]
        case .object(let members):
            var map: [String: String] = [:]
            for (key, item) in members {
                guard case .string(let text) = item else {
                    throw .invalidMetadata(path: path, reason: "value of \"\(key)\" must be a string, found \(item.typeName)")
                }
                map[key] = text
            }
            return map
        default:
            throw .invalidMetadata(path: path, reason: "must be an object of strings or null, found \(value.typeName)")
        }
    }

    /// A non-negative JSON integer (integral doubles such as `1.0` are refused, as serde does).
    private func nonNegativeInteger(_ value: JSONValue) -> Int? {
        guard case .integer(let i) = value, i >= 0, let n = Int(exactly: i) else { return nil }
        return n
    }

    private func parseEntry(name: String, _ value: JSONValue) throws(SafeTensorsError) -> Entry {
        func bad(_ reason: String) -> SafeTensorsError { .invalidTensorEntry(path: path, tensor: name, reason: reason) }
        guard value.objectValue != nil else { throw bad("entry must be an object, found \(value.typeName)") }

        guard let dtypeValue = value["dtype"] else { throw bad("entry has no \"dtype\"") }
        guard let dtypeName = dtypeValue.stringValue else { throw bad("\"dtype\" must be a string, found \(dtypeValue.typeName)") }
        guard let dtype = TensorDType(rawValue: dtypeName) else {
            throw .unknownDType(path: path, tensor: name, dtype: dtypeName)
        }

        guard let shapeValue = value["shape"] else { throw bad("entry has no \"shape\"") }
        guard let dims = shapeValue.arrayValue else { throw bad("\"shape\" must be an array, found \(shapeValue.typeName)") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for dim in dims {
            guard let d = nonNegativeInteger(dim) else {
                throw bad("\"shape\" must hold non-negative integers, found \(dim.serialized())")
            }
            shape.append(d)
        }

        guard let offsetsValue = value["data_offsets"] else { throw bad("entry has no \"data_offsets\"") }
        guard let offsets = offsetsValue.arrayValue else {
            throw bad("\"data_offsets\" must be an array [begin, end], found \(offsetsValue.typeName)")
        }
        guard offsets.count == 2 else {
            throw bad("\"data_offsets\" must hold two numbers [begin, end], found \(offsets.count)")
        }
        guard let begin = nonNegativeInteger(offsets[0]), let end = nonNegativeInteger(offsets[1]) else {
            throw bad("\"data_offsets\" must hold non-negative integers, found \(offsetsValue.serialized())")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    private func validateLayout(_ entries: [Entry], dataStart: Int, fileSize: Int) throws(SafeTensorsError) -> [SafeTensorInfo] {
        let ordered = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var counts: [Int] = []
        counts.reserveCapacity(ordered.count)
        var expected = 0
        var previous: String? = nil
        for entry in ordered {
            if entry.end < entry.begin {
                throw .reversedOffsets(path: path, tensor: entry.name, begin: entry.begin, end: entry.end)
            }
            if entry.begin > expected {
                throw .hole(path: path, tensor: entry.name, gap: expected..<entry.begin)
            }
            if entry.begin < expected {
                throw .overlap(path: path, tensor: entry.name, other: previous ?? "")
            }
            var elements = 1
            for d in entry.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw .sizeOverflow(path: path, tensor: entry.name, shape: entry.shape, dtype: entry.dtype)
                }
                elements = product
            }
            let (bits, overflow) = elements.multipliedReportingOverflow(by: entry.dtype.bitWidth)
            guard !overflow else {
                throw .sizeOverflow(path: path, tensor: entry.name, shape: entry.shape, dtype: entry.dtype)
            }
            guard bits % 8 == 0 else { throw .misalignedSlice(path: path, tensor: entry.name, bits: bits) }
            guard entry.end - entry.begin == bits / 8 else {
                throw .sizeMismatch(path: path, tensor: entry.name, expectedBytes: bits / 8, actualBytes: entry.end - entry.begin)
            }
            counts.append(elements)
            expected = entry.end
            previous = entry.name
        }

        // `expected` is the data buffer length; compare start + length with the file size without overflow.
        let available = fileSize - dataStart
        if expected > available {
            // Name the first tensor whose data runs past the end of the file.
            let culprit = ordered.first { $0.end > available }!
            let (end, overflow) = dataStart.addingReportingOverflow(culprit.end)
            throw .truncated(path: path, tensor: culprit.name, dataEnd: overflow ? Int.max : end, fileSize: fileSize)
        }
        if expected < available {
            throw .trailingBytes(path: path, after: previous, count: available - expected)
        }

        var infos: [SafeTensorInfo] = []
        infos.reserveCapacity(ordered.count)
        for (entry, count) in zip(ordered, counts) {
            infos.append(SafeTensorInfo(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                                        dataRange: (dataStart + entry.begin)..<(dataStart + entry.end),
                                        elementCount: count))
        }
        infos.sort { $0.name < $1.name }
        return infos
    }
}
