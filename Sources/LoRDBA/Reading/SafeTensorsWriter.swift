#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds `.safetensors` files the way the reference writer does: the header starts with `{`,
/// `__metadata__` comes first, tensors are laid out by dtype alignment (largest first) then by
/// name with no padding between them, and the header is padded with spaces to a multiple of 8
/// so the data buffer starts 8-byte aligned.
public enum SafeTensorsWriter {
    /// The bytes of a safetensors file holding `tensors` and, unless `nil`, a `__metadata__` map.
    ///
    /// - Precondition: names are unique, none is `__metadata__`, and each `bytes.count` equals
    ///   the shape's element count × the dtype's bits / 8.
    public static func serialize(_ tensors: [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])],
                                 metadata: [String: String]?) -> [UInt8] {
        let rank = Dictionary(uniqueKeysWithValues: TensorDType.allCases.enumerated().map { ($1, $0) })
        let ordered = tensors.indices.sorted { i, j in
            let (a, b) = (tensors[i], tensors[j])
            if a.dtype != b.dtype { return rank[a.dtype]! > rank[b.dtype]! }
            return a.name < b.name
        }
        precondition(Set(tensors.map(\.name)).count == tensors.count, "duplicate tensor names")

        var members: [(String, JSONValue)] = []
        members.reserveCapacity(tensors.count + 1)
        if let metadata {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for i in ordered {
            let t = tensors[i]
            precondition(t.name != "__metadata__", "a tensor cannot be called __metadata__")
            let elements = t.shape.reduce(1, *)
            precondition(t.bytes.count * 8 == elements * t.dtype.bitWidth,
                         "\(t.name): \(t.bytes.count) bytes do not match shape \(t.shape) of \(t.dtype.rawValue)")
            let end = offset + t.bytes.count
            members.append((t.name, .object([
                ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .integer(Int64($0)) })),
                ("data_offsets", .array([.integer(Int64(offset)), .integer(Int64(end))])),
            ])))
            offset = end
        }
        var header = JSONValue.object(members).serializedBytes()
        let padded = (header.count + 7) / 8 * 8
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padded - header.count))

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for i in ordered { out.append(contentsOf: tensors[i].bytes) }
        return out
    }

    /// Little-endian bytes of `values` in a float dtype (F16 and BF16 round to nearest even).
    /// - Precondition: `dtype.isConvertibleFloat`.
    public static func encode(_ values: [Float], as dtype: TensorDType) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(values.count * dtype.bitWidth / 8)
        switch dtype {
        case .f16:
            for v in values { append(Float16(v).bitPattern, to: &out) }
        case .bf16:
            for v in values { append(BFloat16Bits.bits(v), to: &out) }
        case .f32:
            for v in values { append(v.bitPattern, to: &out) }
        case .f64:
            for v in values { append(Double(v).bitPattern, to: &out) }
        default:
            preconditionFailure("\(dtype.rawValue) is not a float dtype")
        }
        return out
    }

    /// Little-endian bytes of `values` in a float dtype; F64 keeps every `Double` exactly.
    /// - Precondition: `dtype.isConvertibleFloat`.
    public static func encode(_ values: [Double], as dtype: TensorDType) -> [UInt8] {
        guard dtype == .f64 else { return encode(values.map { Float($0) }, as: dtype) }
        var out = [UInt8]()
        out.reserveCapacity(values.count * 8)
        for v in values { append(v.bitPattern, to: &out) }
        return out
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Writes `bytes` to `path`, replacing any existing file.
    public static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: .create, errno: errno) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(FileError) in try FileSystem.writeAll(fd, buffer, path: path) }
        }.get()
    }
}
