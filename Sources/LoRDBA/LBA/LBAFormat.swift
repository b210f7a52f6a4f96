/// Constants and small shared helpers of the `.lba` container (see `formats/lba.md`).
public enum LBAFormat {
    /// The 8-byte signature: `0x89 'L' 'B' 'A' '\r' '\n' 0x1A '\n'` (PNG-style: it catches
    /// 7-bit transfers, CRLF/LF conversions in both directions and DOS end-of-file truncation).
    public static let magic: [UInt8] = [0x89, 0x4C, 0x42, 0x41, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The major version this library writes and reads. A different major is refused.
    public static let majorVersion = 1
    /// The newest minor version this library writes and fully understands (1.1 added the
    /// `diffusers` layout). Each file gets the lowest minor its content needs
    /// (``minorVersion(for:)``). Files with a newer minor of the same major are read; their
    /// unknown table members and sections are checked and skipped.
    public static let minorVersion = 1
    /// The lowest minor version whose features a file of `layout` uses: 1 for the `diffusers`
    /// layout (added in 1.1), 0 otherwise, so files of the other layouts stay 1.0 files.
    public static func minorVersion(for layout: AdapterLayout) -> Int {
        layout == .diffusers ? 1 : 0
    }
    /// The format name stored in the table.
    public static let formatName = "lba"

    /// Size of the fixed preamble.
    public static let preambleSize = 64
    /// Alignment of the table and of every section; the file length is a multiple of it too.
    public static let alignment = 64
    /// Where the table starts in every version-1 file.
    public static let tableOffset = 64

    /// Byte offsets of the preamble fields.
    public enum Preamble {
        public static let magic = 0          // 8 bytes
        public static let major = 8          // u16
        public static let minor = 10         // u16
        public static let flags = 12         // u32, no flag is defined in 1.0: must be zero
        public static let tableOffset = 16   // u64
        public static let tableLength = 24   // u64
        public static let fileLength = 32    // u64
        public static let tableCRC = 40      // u32
        public static let tableDecodedLength = 44   // u64 (1.1): the JSON's length when the table is zstd-compressed, else 0
        public static let reserved = 52      // 8 bytes, zero
        public static let preambleCRC = 60   // u32, CRC-32C of bytes 0..<60
    }

    /// Preamble flag bits.
    public enum Flags {
        /// (1.1) The table region holds one zstd frame of the JSON table, whose decoded length is
        /// at ``Preamble/tableDecodedLength``; the table CRC covers the stored (compressed) bytes.
        public static let compressedTable: UInt32 = 1
    }

    /// Flags a reader of this version understands. Any other set bit is refused.
    public static let knownFlags: UInt32 = Flags.compressedTable

    /// The largest decoded table a reader accepts (a table describes modules in a few hundred
    /// bytes each, so 64 MiB is far beyond any adapter).
    public static let maximumTableLength = 64 << 20

    /// The zstd level the writer uses for every section (level 3: on float data higher levels
    /// gain under 1 % and are 10–100× slower; see `formats/lba.md`).
    public static let zstdLevel: Int32 = 3

    /// The writer keeps a zstd frame only when it saves at least this many bytes and at least
    /// 1 % of the raw size (smaller savings rarely shrink a 64-byte-aligned file).
    public static let minimumSavingBytes = 64

    /// Whether the writer keeps a `compressedCount`-byte zstd frame instead of `rawCount` raw bytes.
    public static func keepsCompressed(rawCount: Int, compressedCount: Int) -> Bool {
        let saving = max(minimumSavingBytes, (rawCount + 99) / 100)
        return compressedCount <= rawCount - saving && withinZstdRatio(decoded: rawCount, stored: compressedCount)
    }

    // MARK: Limits a reader enforces before allocating (formats/lba.md §8)

    /// The largest `in`, `out`, `rank` and `binary_rank` (2³¹ − 1); all are at least 1.
    public static let maximumDimension = Int(Int32.max)
    /// `binary_rank ≤ maximumBinaryRankMultiple × rank`.
    public static let maximumBinaryRankMultiple = 64
    /// The sections' total size in memory after decoding (``memorySize(decoded:content:scaleDType:)``)
    /// is at most `maximumTotalExpansion × file_length + decodedAllowance`.
    public static let maximumTotalExpansion = 64
    /// See ``maximumTotalExpansion``: 32 MiB.
    public static let decodedAllowance = 32 << 20

    /// The bytes a decoded section takes in memory: scale vectors are held as Float (4 bytes a
    /// value, whatever their dtype); everything else at its decoded size.
    public static func memorySize(decoded: Int, content: LBASectionContent, scaleDType: ScaleDType) -> Int {
        switch content {
        case .scaleA, .scaleB: decoded / scaleDType.byteWidth * 4
        default: decoded
        }
    }

    /// Whether `memory` decoded bytes fit the budget of a file of at least `stored` bytes.
    public static func withinDecodedBudget(memory: Int, stored: Int) -> Bool {
        let (scaled, overflow) = stored.multipliedReportingOverflow(by: maximumTotalExpansion)
        return overflow || memory <= scaled + decodedAllowance
    }

    /// Whether `decoded` bytes can come from `stored` bytes of zstd (at most ``Zstd/maximumRatio`` : 1).
    public static func withinZstdRatio(decoded: Int, stored: Int) -> Bool {
        let (limit, overflow) = stored.multipliedReportingOverflow(by: Zstd.maximumRatio)
        return overflow || decoded <= limit
    }

    /// `value` rounded up to a multiple of ``alignment``, or `nil` on overflow.
    public static func aligned(_ value: Int) -> Int? {
        guard value >= 0 else { return nil }
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum / alignment * alignment
    }

    /// The 64-byte preamble with both CRCs filled in.
    static func preamble(major: Int = majorVersion, minor: Int = minorVersion, flags: UInt32 = 0,
                         tableOffset: Int = tableOffset, tableLength: Int, tableDecodedLength: Int = 0,
                         fileLength: Int, tableCRC: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: preambleSize)
        bytes.replaceSubrange(0..<8, with: magic)
        bytes.storeLE(UInt16(truncatingIfNeeded: major), at: Preamble.major)
        bytes.storeLE(UInt16(truncatingIfNeeded: minor), at: Preamble.minor)
        bytes.storeLE(flags, at: Preamble.flags)
        bytes.storeLE(UInt64(tableOffset), at: Preamble.tableOffset)
        bytes.storeLE(UInt64(tableLength), at: Preamble.tableLength)
        bytes.storeLE(UInt64(tableDecodedLength), at: Preamble.tableDecodedLength)
        bytes.storeLE(UInt64(fileLength), at: Preamble.fileLength)
        bytes.storeLE(tableCRC, at: Preamble.tableCRC)
        bytes.storeLE(CRC32C.checksum(bytes[0..<Preamble.preambleCRC]), at: Preamble.preambleCRC)
        return bytes
    }
}

/// What a section holds.
public enum LBASectionContent: Sendable, Hashable, CustomStringConvertible {
    /// `S_A`, `[k, in]` packed signs.
    case signA
    /// `S_B`, `[k, out]` packed signs (the signs of `B̂`, rank-major).
    case signB
    /// `a`, `in` values in the adapter's scale dtype.
    case scaleA
    /// `b`, `out` values in the adapter's scale dtype.
    case scaleB
    /// `m`, `k` f32 values.
    case scaleM
    /// The raw bytes of a carried tensor.
    case carried
    /// A content name this reader does not know (only accepted in files of a newer minor version).
    case unknown(String)

    /// The name used in the table.
    public var name: String {
        switch self {
        case .signA: "sign_a"
        case .signB: "sign_b"
        case .scaleA: "scale_a"
        case .scaleB: "scale_b"
        case .scaleM: "scale_m"
        case .carried: "carried"
        case .unknown(let name): name
        }
    }

    /// The content named `name` in a table.
    public init(name: String) {
        switch name {
        case "sign_a": self = .signA
        case "sign_b": self = .signB
        case "scale_a": self = .scaleA
        case "scale_b": self = .scaleB
        case "scale_m": self = .scaleM
        case "carried": self = .carried
        default: self = .unknown(name)
        }
    }

    /// The module section kinds, in file order.
    public static let moduleContents: [LBASectionContent] = [.signA, .signB, .scaleA, .scaleB, .scaleM]

    public var description: String { name }
}

/// How a section's bytes are stored.
public enum LBAEncoding: String, Sendable, Hashable, CaseIterable {
    /// The decoded bytes themselves.
    case raw
    /// One zstd frame that declares the decoded size in its header.
    case zstd
}

/// One section of a `.lba` file, as listed in its table (for `inspect` and reports).
public struct LBASectionInfo: Sendable, Equatable {
    /// Position in the table's section list.
    public var index: Int
    /// What the section holds.
    public var content: LBASectionContent
    /// The module it belongs to (module sections), else `nil`.
    public var module: String?
    /// The carried tensor it holds (carried sections), else `nil`.
    public var tensor: String?
    /// Absolute byte offset in the file (a multiple of 64).
    public var offset: Int
    /// Bytes stored in the file.
    public var storedLength: Int
    /// Bytes after decoding (equal to `storedLength` for raw sections).
    public var decodedLength: Int
    /// How the bytes are stored.
    public var encoding: LBAEncoding
    /// CRC-32C of the stored bytes.
    public var crc32c: UInt32

    public init(index: Int, content: LBASectionContent, module: String?, tensor: String?, offset: Int,
                storedLength: Int, decodedLength: Int, encoding: LBAEncoding, crc32c: UInt32) {
        self.index = index
        self.content = content
        self.module = module
        self.tensor = tensor
        self.offset = offset
        self.storedLength = storedLength
        self.decodedLength = decodedLength
        self.encoding = encoding
        self.crc32c = crc32c
    }

    /// A short description of the owner, e.g. `module "q_proj" sign_a (section 3)`.
    public var label: String {
        if let module { return "module \(LBAError.quote(module)) \(content.name) (section \(index))" }
        if let tensor { return "carried tensor \(LBAError.quote(tensor)) (section \(index))" }
        return "\(content.name) (section \(index))"
    }
}

/// The version pair of a `.lba` file.
public struct LBAVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The newest version this library writes (a file gets the lowest one its content needs).
    public static let current = LBAVersion(major: LBAFormat.majorVersion, minor: LBAFormat.minorVersion)

    public static func < (lhs: LBAVersion, rhs: LBAVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public var description: String { "\(major).\(minor)" }
}

// MARK: - Little-endian byte helpers

extension Array where Element == UInt8 {
    /// Overwrites `MemoryLayout<T>.size` bytes at `offset` with `value`, little-endian.
    mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { source in
            for i in 0..<source.count { self[offset + i] = source[i] }
        }
    }

    /// Appends `value`, little-endian.
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    /// The little-endian integer at `offset` (unaligned); the caller checks bounds.
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
