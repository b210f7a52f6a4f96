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
