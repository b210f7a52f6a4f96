/// A validated `.lba` file, fully decoded.
///
/// Both initializers check everything before returning: signature, version, flags, both
/// CRCs of the preamble and table, every section's CRC, that all padding and reserved bytes
/// are zero, the declared file length, the JSON table (syntax, required members, types,
/// ranges, cross-references), that sections are placed canonically without overlap, that each
/// section's size matches the shapes, that zstd sections decode exactly, and that sign rows
/// have no bits set in their padding. Any problem throws an ``LBAError`` naming the part.
public struct LBAFile: Sendable {
    /// The file's format version.
    public var version: LBAVersion
    /// The decoded adapter: modules (in file order), scales, carried tensors and metadata.
    public var adapter: BinaryAdapter
    /// The sections, in table order.
    public var sections: [LBASectionInfo]
    /// Size of the file in bytes.
    public var fileSize: Int
    /// Length of the JSON table in bytes.
    public var tableLength: Int
    /// The parsed JSON table.
    public var table: JSONValue
    /// DoRA modules (format 1.1 `dora`): module name → name of its carried magnitude tensor.
    public var doraMagnitudes: [String: String] = [:]

    /// Memory-maps `path` and validates and decodes the whole file.
    public init(path: String) throws(LBAError) {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch {
            throw .io(path: path, operation: error.operation, errno: error.errno)
        }
        self = try file.withBytes { (bytes) throws(LBAError) -> LBAFile in
            try LBAReader(bytes: bytes, path: path).read()
        }
    }

    /// Validates and decodes an in-memory file.
    public init(bytes: [UInt8], path: String = "<memory>") throws(LBAError) {
        self = try bytes.withUnsafeBytes { buffer in
            Result { () throws(LBAError) -> LBAFile in try LBAReader(bytes: buffer, path: path).read() }
        }.get()
    }

    init(version: LBAVersion, adapter: BinaryAdapter, sections: [LBASectionInfo], fileSize: Int,
         tableLength: Int, table: JSONValue) {
        self.version = version
        self.adapter = adapter
        self.sections = sections
        self.fileSize = fileSize
        self.tableLength = tableLength
        self.table = table
    }
}

/// The validating parser behind ``LBAFile``.
struct LBAReader {
    let bytes: UnsafeRawBufferPointer
    let path: String

    // MARK: - Preamble

    func read() throws(LBAError) -> LBAFile {
        let size = bytes.count
        let magic = LBAFormat.magic
        let prefix = min(size, magic.count)
        for i in 0..<prefix where bytes[i] != magic[i] { throw .badMagic(path: path) }
        guard size >= LBAFormat.preambleSize else {
            throw .truncated(path: path, context: "preamble", size: size, needed: LBAFormat.preambleSize)
        }
        let P = LBAFormat.Preamble.self
        let major = Int(bytes.loadLE(UInt16.self, at: P.major))
        let minor = Int(bytes.loadLE(UInt16.self, at: P.minor))
        guard major == LBAFormat.majorVersion else { throw .unsupportedVersion(path: path, major: major, minor: minor) }
        let storedPreambleCRC = bytes.loadLE(UInt32.self, at: P.preambleCRC)
        let preambleCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<P.preambleCRC]))
        guard storedPreambleCRC == preambleCRC else {
            throw .checksum(path: path, context: "preamble", stored: storedPreambleCRC, computed: preambleCRC)
        }
        let flags = bytes.loadLE(UInt32.self, at: P.flags)
        guard flags & ~LBAFormat.knownFlags == 0 else { throw .unsupportedFlags(path: path, flags: flags) }
        for offset in P.reserved..<P.preambleCRC where bytes[offset] != 0 {
            throw .nonZeroPadding(path: path, context: "preamble reserved bytes", offset: offset)
        }
        let tableOffset = bytes.loadLE(UInt64.self, at: P.tableOffset)
        guard tableOffset == UInt64(LBAFormat.tableOffset) else {
            throw .layout(path: path, context: "preamble", problem: "table offset \(tableOffset), must be \(LBAFormat.tableOffset)")
        }
        let declaredLength = bytes.loadLE(UInt64.self, at: P.fileLength)
        guard declaredLength <= UInt64(Int.max) else {
            throw .layout(path: path, context: "preamble", problem: "declared file length \(declaredLength) is impossible")
        }
        let fileLength = Int(declaredLength)
        if fileLength > size { throw .truncated(path: path, context: "file", size: size, needed: fileLength) }
        if fileLength != size { throw .fileLength(path: path, declared: fileLength, actual: size) }
        guard fileLength % LBAFormat.alignment == 0 else {
            throw .layout(path: path, context: "preamble", problem: "file length \(fileLength) is not a multiple of \(LBAFormat.alignment)")
        }
        let rawTableLength = bytes.loadLE(UInt64.self, at: P.tableLength)
        guard rawTableLength > 0, rawTableLength <= UInt64(fileLength - LBAFormat.tableOffset) else {
            throw .layout(path: path, context: "preamble",
                          problem: "table length \(rawTableLength) does not fit in a file of \(fileLength) bytes")
        }
        let tableLength = Int(rawTableLength)
        let tableEnd = LBAFormat.tableOffset + tableLength
        let tableBytes = UnsafeRawBufferPointer(rebasing: bytes[LBAFormat.tableOffset..<tableEnd])
        let storedTableCRC = bytes.loadLE(UInt32.self, at: P.tableCRC)
        let tableCRC = CRC32C.checksum(tableBytes)
        guard storedTableCRC == tableCRC else {
            throw .checksum(path: path, context: "table", stored: storedTableCRC, computed: tableCRC)
        }
        let json: JSONValue
        do {
            if let decodedLength = try compressedTableLength(flags: flags, minor: minor, storedLength: tableLength) {
                let decoded: [UInt8]
                do { decoded = try Zstd.decompress(tableBytes, expectedSize: decodedLength) } catch {
                    throw LBAError.compression(path: path, context: "table", problem: error.description)
                }
                json = try decoded.withUnsafeBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            } else {
                json = try JSONParser.parse(tableBytes)
            }
        } catch let error as LBAError {
            throw error
        } catch let error as JSONError {
            throw .table(path: path, context: "table", problem: error.description)
        } catch {
            throw .table(path: path, context: "table", problem: "\(error)")
        }
        let version = LBAVersion(major: major, minor: minor)
        let table = try TableReader(path: path, version: version).read(json)

        // MARK: Placement: canonical order, 64-byte alignment, zero padding, exact end.
        var cursor = tableEnd
        for index in table.sections.indices {
            let info = table.sections[index]
            let label = table.label(index)
            guard let expected = LBAFormat.aligned(cursor) else {
                throw .layout(path: path, context: label, problem: "offset out of range")
            }
            try checkZero(cursor..<min(expected, fileLength), context: "padding before \(label)")
            guard info.offset == expected else {
                throw .layout(path: path, context: label,
                              problem: "offset \(info.offset), expected \(expected) (sections follow each other in table order at the next 64-byte boundary)")
            }
            let (end, overflow) = info.offset.addingReportingOverflow(info.storedLength)
            guard !overflow, end <= fileLength else {
                throw .layout(path: path, context: label,
                              problem: "\(info.storedLength) bytes at offset \(info.offset) run past the end of the \(fileLength)-byte file")
            }
            cursor = end
        }
        guard let end = LBAFormat.aligned(cursor), end == fileLength else {
            throw .layout(path: path, context: "file",
                          problem: "file is \(fileLength) bytes but its contents end at \(cursor) (expected length \(LBAFormat.aligned(cursor) ?? -1))")
        }
        try checkZero(cursor..<fileLength, context: "padding at the end of the file")

        // MARK: Total decoded size: bounded by the file's own size before anything is allocated.
        var totalMemory = 0
        for info in table.sections {
            if case .unknown = info.content { continue }
            let memory = LBAFormat.memorySize(decoded: info.decodedLength, content: info.content, scaleDType: table.scaleDType)
            let (sum, overflow) = totalMemory.addingReportingOverflow(memory)
            guard !overflow, LBAFormat.withinDecodedBudget(memory: sum, stored: fileLength) else {
                throw .compression(path: path, context: "file",
                                   problem: "sections decode to more than \(LBAFormat.maximumTotalExpansion) × the file's \(fileLength) bytes + \(LBAFormat.decodedAllowance >> 20) MiB")
            }
            totalMemory = sum
        }

        // MARK: Sections: CRC of the stored bytes, then decode.
        var decoded: [[UInt8]?] = []
        decoded.reserveCapacity(table.sections.count)
        for (index, info) in table.sections.enumerated() {
            let label = table.label(index)
            let stored = UnsafeRawBufferPointer(rebasing: bytes[info.offset..<(info.offset + info.storedLength)])
            let crc = CRC32C.checksum(stored)
            guard crc == info.crc32c else {
                throw .checksum(path: path, context: label, stored: info.crc32c, computed: crc)
            }
            if case .unknown = info.content { decoded.append(nil); continue }
            switch info.encoding {
            case .raw:
                decoded.append(Array(stored))
            case .zstd:
                do { decoded.append(try Zstd.decompress(stored, expectedSize: info.decodedLength)) } catch {
                    throw .compression(path: path, context: label, problem: error.description)
                }
            }
        }
        let adapter = try table.makeAdapter(decoded)
        var file = LBAFile(version: version, adapter: adapter, sections: table.sections, fileSize: fileLength,
                           tableLength: tableLength, table: json)
        for module in table.modules { file.doraMagnitudes[module.name] = module.doraMagnitude }
        return file
    }

    /// The decoded length of a zstd-compressed table (flag `compressedTable`, format 1.1), or
    /// `nil` for a raw table, whose decoded-length field must then be zero.
    private func compressedTableLength(flags: UInt32, minor: Int, storedLength: Int) throws(LBAError) -> Int? {
        let field = bytes.loadLE(UInt64.self, at: LBAFormat.Preamble.tableDecodedLength)
        guard flags & LBAFormat.Flags.compressedTable != 0 else {
            let start = LBAFormat.Preamble.tableDecodedLength
            if field != 0, let offset = (start..<(start + 8)).first(where: { bytes[$0] != 0 }) {
                throw .nonZeroPadding(path: path, context: "preamble table decoded length (the table is not compressed)",
                                      offset: offset)
            }
            return nil
        }
        guard minor >= 1 else { throw .unsupportedFlags(path: path, flags: flags) }
        guard field > 0, field <= UInt64(LBAFormat.maximumTableLength),
              LBAFormat.withinZstdRatio(decoded: Int(field), stored: storedLength) else {
            throw .layout(path: path, context: "preamble",
                          problem: "compressed table decodes to \(field) bytes (at most \(LBAFormat.maximumTableLength), and at most \(Zstd.maximumRatio)× its \(storedLength) stored bytes)")
        }
        return Int(field)
    }

    private func checkZero(_ range: Range<Int>, context: String) throws(LBAError) {
        for offset in range where bytes[offset] != 0 {
            throw .nonZeroPadding(path: path, context: context, offset: offset)
        }
    }
}
