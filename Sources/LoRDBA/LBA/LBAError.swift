#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a `.lba` file could not be written or read.
///
/// Every case carries the file path (`<memory>` for in-memory data) and a context naming the
/// part of the file involved (`preamble`, `table`, `module "q_proj" sign_a (section 3)`, …).
/// ``description`` is always one line: `<path>: <context>: <problem>`.
public enum LBAError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file-system operation failed (`operation` such as "open", "write", "rename").
    case io(path: String, operation: FileError.Operation, errno: Int32)
    /// The destination exists and `overwrite` was not requested.
    case fileExists(path: String)
    /// The first 8 bytes are not the `.lba` signature.
    case badMagic(path: String)
    /// The file's major version is not one this reader implements.
    case unsupportedVersion(path: String, major: Int, minor: Int)
    /// The preamble sets flags this reader does not know.
    case unsupportedFlags(path: String, flags: UInt32)
    /// The file ends before `needed` bytes (it has `size`).
    case truncated(path: String, context: String, size: Int, needed: Int)
    /// The preamble declares a different file length than the file has.
    case fileLength(path: String, declared: Int, actual: Int)
    /// A CRC-32C does not match.
    case checksum(path: String, context: String, stored: UInt32, computed: UInt32)
    /// Padding or reserved bytes that must be zero are not (`offset` is absolute in the file).
    case nonZeroPadding(path: String, context: String, offset: Int)
    /// Offsets or lengths that are misaligned, overlapping, out of range or out of order.
    case layout(path: String, context: String, problem: String)
    /// The table is not valid JSON, or a member is missing, of the wrong type or out of range.
    case table(path: String, context: String, problem: String)
    /// A declared shape does not match a section's size, or shapes disagree.
    case shape(path: String, context: String, problem: String)
    /// A sign row has a set bit past its last column.
    case signPadding(path: String, context: String, row: Int)
    /// A zstd section does not decode as declared.
    case compression(path: String, context: String, problem: String)
    /// A section uses an encoding this reader does not know.
    case unknownEncoding(path: String, context: String, encoding: String)
    /// The writer refuses an adapter that cannot be stored faithfully.
    case invalidAdapter(path: String, context: String, problem: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .io(let path, _, _), .fileExists(let path), .badMagic(let path),
             .unsupportedVersion(let path, _, _), .unsupportedFlags(let path, _),
             .truncated(let path, _, _, _), .fileLength(let path, _, _), .checksum(let path, _, _, _),
             .nonZeroPadding(let path, _, _), .layout(let path, _, _), .table(let path, _, _),
             .shape(let path, _, _), .signPadding(let path, _, _), .compression(let path, _, _),
             .unknownEncoding(let path, _, _), .invalidAdapter(let path, _, _):
            path
        }
    }

    /// The part of the file involved: `file`, `preamble`, `table`, a module or a section.
    public var context: String {
        switch self {
        case .io(_, let operation, _): operation.description
        case .fileExists: FileError.Operation.create.description
        case .badMagic, .unsupportedVersion, .unsupportedFlags, .fileLength: "preamble"
        case .truncated(_, let context, _, _), .checksum(_, let context, _, _),
             .nonZeroPadding(_, let context, _), .layout(_, let context, _), .table(_, let context, _),
             .shape(_, let context, _), .signPadding(_, let context, _), .compression(_, let context, _),
             .unknownEncoding(_, let context, _), .invalidAdapter(_, let context, _):
            context
        }
    }

    /// What is wrong.
    public var problem: String {
        switch self {
        case .io(_, _, let code): String(cString: strerror(code))
        case .fileExists: "file exists (pass overwrite to replace it)"
        case .badMagic: "not a .lba file (bad signature)"
        case .unsupportedVersion(_, let major, let minor):
            "unsupported format version \(major).\(minor) (this reader supports \(LBAFormat.majorVersion).x)"
        case .unsupportedFlags(_, let flags):
            "unknown flags 0x\(String(flags, radix: 16)) (a newer writer needs a newer reader)"
        case .truncated(_, _, let size, let needed): "truncated: file has \(size) bytes, needs \(needed)"
        case .fileLength(_, let declared, let actual):
            "file length \(actual) bytes does not match the declared \(declared) bytes"
        case .checksum(_, _, let stored, let computed):
            "CRC-32C mismatch: stored \(hex(stored)), computed \(hex(computed)) (the data is corrupted)"
        case .nonZeroPadding(_, _, let offset): "nonzero padding byte at offset \(offset)"
        case .layout(_, _, let problem), .table(_, _, let problem), .shape(_, _, let problem),
             .compression(_, _, let problem), .invalidAdapter(_, _, let problem):
            problem
        case .signPadding(_, _, let row): "row \(row) has set bits in its padding past the last column"
        case .unknownEncoding(_, _, let encoding): "unknown encoding \(LBAError.quote(encoding))"
        }
    }

    /// `<path>: <context>: <problem>`, on one line.
    public var description: String {
        LBAError.oneLine("\(path): \(context): \(problem)")
    }

    /// A name in double quotes with control characters escaped (for contexts).
    static func quote(_ name: String) -> String {
        MessageText.quoted(name)
    }

    /// `text` with line breaks and other control characters escaped.
    static func oneLine(_ text: String) -> String {
        MessageText.escaped(text)
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
