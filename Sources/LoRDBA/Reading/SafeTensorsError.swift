/// Why a `.safetensors` file was rejected or a tensor could not be read.
///
/// Every case carries the file path and, where one is involved, the tensor (or header key)
/// name; `description` is one line, `"<path>: <tensor>: <problem>"`.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or mapped (missing, a directory, no permission…).
    case cannotOpen(path: String, reason: String)
    /// The file is shorter than the 8-byte header length.
    case fileTooSmall(path: String, fileSize: Int)
    /// The declared header length exceeds the 100,000,000-byte limit.
    case headerTooLarge(path: String, headerLength: UInt64)
    /// The header would extend past the end of the file.
    case invalidHeaderLength(path: String, headerLength: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(path: String)
    /// The header is not valid JSON (syntax, nesting depth, trailing characters).
    case invalidHeaderJSON(path: String, reason: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(path: String, found: String)
    /// A key appears twice in one JSON object of the header.
    case duplicateKey(path: String, key: String)
    /// `__metadata__` is neither a string→string object nor `null`.
    case invalidMetadata(path: String, reason: String)
    /// A tensor entry lacks a field or has one of the wrong type or range.
    case invalidTensorEntry(path: String, tensor: String, reason: String)
    /// A tensor's `dtype` is not a safetensors dtype name.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// Element or byte count of a tensor does not fit in an `Int`.
    case sizeOverflow(path: String, tensor: String, shape: [Int], dtype: TensorDType)
    /// A sub-byte dtype whose elements do not fill a whole number of bytes.
    case misalignedSlice(path: String, tensor: String, bits: Int)
    /// `data_offsets` span a different number of bytes than shape × dtype requires.
    case sizeMismatch(path: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    /// `data_offsets` run backwards (`end < begin`).
    case reversedOffsets(path: String, tensor: String, begin: Int, end: Int)
    /// Bytes of the data buffer before this tensor belong to no tensor.
    case hole(path: String, tensor: String, gap: Range<Int>)
    /// This tensor's data overlaps the preceding tensor's.
    case overlap(path: String, tensor: String, other: String)
    /// The tensor's data ends beyond the end of the file.
    case truncated(path: String, tensor: String, dataEnd: Int, fileSize: Int)
    /// Bytes follow the last tensor's data (or, with no tensors, the header).
    case trailingBytes(path: String, after: String?, count: Int)
    /// `floats` was asked for a tensor whose dtype is not F16, BF16, F32 or F64.
    case notFloat(path: String, tensor: String, dtype: TensorDType)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .cannotOpen(let p, _), .fileTooSmall(let p, _), .headerTooLarge(let p, _),
             .invalidHeaderLength(let p, _, _), .headerNotUTF8(let p), .invalidHeaderJSON(let p, _),
             .headerNotObject(let p, _), .duplicateKey(let p, _), .invalidMetadata(let p, _),
             .invalidTensorEntry(let p, _, _), .unknownDType(let p, _, _), .sizeOverflow(let p, _, _, _),
             .misalignedSlice(let p, _, _), .sizeMismatch(let p, _, _, _), .reversedOffsets(let p, _, _, _),
             .hole(let p, _, _), .overlap(let p, _, _), .truncated(let p, _, _, _),
             .trailingBytes(let p, _, _), .notFloat(let p, _, _):
            p
        }
    }

    /// The tensor (or header key) the error is about, if any.
    public var tensor: String? {
        switch self {
        case .cannotOpen, .fileTooSmall, .headerTooLarge, .invalidHeaderLength, .headerNotUTF8,
             .invalidHeaderJSON, .headerNotObject:
            nil
        case .duplicateKey(_, let key): key
        case .invalidMetadata: "__metadata__"
        case .invalidTensorEntry(_, let t, _), .unknownDType(_, let t, _), .sizeOverflow(_, let t, _, _),
             .misalignedSlice(_, let t, _), .sizeMismatch(_, let t, _, _), .reversedOffsets(_, let t, _, _),
             .hole(_, let t, _), .overlap(_, let t, _), .truncated(_, let t, _, _), .notFloat(_, let t, _):
            t
        case .trailingBytes(_, let after, _): after
        }
    }

    /// What is wrong, without the file and tensor names.
    public var problem: String {
        switch self {
        case .cannotOpen(_, let reason):
            "cannot open: \(reason)"
        case .fileTooSmall(_, let size):
            "file is \(size) bytes, too short to hold the 8-byte header length of a safetensors file"
        case .headerTooLarge(_, let n):
            "header length \(n) exceeds the limit of \(SafeTensorsFile.maxHeaderLength) bytes"
        case .invalidHeaderLength(_, let n, let size):
            "header length \(n) reaches past the end of the file (\(size) bytes)"
        case .headerNotUTF8:
            "header is not valid UTF-8"
        case .invalidHeaderJSON(_, let reason):
            "header is not valid JSON (\(reason))"
        case .headerNotObject(_, let found):
            "header must be a JSON object, found \(found)"
        case .duplicateKey:
            "key appears more than once in one object of the header"
        case .invalidMetadata(_, let reason):
            reason
        case .invalidTensorEntry(_, _, let reason):
            reason
        case .unknownDType(_, _, let dtype):
            "unknown dtype \"\(dtype)\""
        case .sizeOverflow(_, _, let shape, let dtype):
            "size of shape \(ReadingText.shape(shape)) of \(dtype.rawValue) overflows"
        case .misalignedSlice(_, _, let bits):
            "data is \(bits) bits, not a whole number of bytes"
        case .sizeMismatch(_, _, let expected, let actual):
            "data_offsets span \(actual) bytes but shape and dtype need \(expected)"
        case .reversedOffsets(_, _, let begin, let end):
            "data_offsets [\(begin), \(end)] end before they begin"
        case .hole(_, _, let gap):
            "bytes \(gap.lowerBound)..<\(gap.upperBound) of the data buffer before this tensor belong to no tensor"
        case .overlap(_, _, let other):
            "data overlaps tensor \"\(other)\""
        case .truncated(_, _, let end, let size):
            "data ends at byte \(end) but the file is only \(size) bytes (truncated file)"
        case .trailingBytes(_, let after, let count):
            after == nil
                ? "\(count) bytes follow the header but no tensor covers them"
                : "\(count) bytes after this tensor, the last one, belong to no tensor"
        case .notFloat(_, _, let dtype):
            "dtype \(dtype.rawValue) cannot be decoded to floating point (F16, BF16, F32 or F64 expected)"
        }
    }

    public var description: String {
        ReadingText.message(file: path, subject: tensor, problem: problem)
    }
}
