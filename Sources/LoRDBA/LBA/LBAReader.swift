/// The validating parser behind ``LBAFile``: `read()` is the sequence of checks of
/// `formats/lba.md` §8, one function per step, in the spec's order (so a file with several
/// faults reports the same one every time).
struct LBAReader {
    let bytes: UnsafeRawBufferPointer
    let path: String

    private typealias P = LBAFormat.Preamble

    func read() throws(LBAError) -> LBAFile {
        try checkSignature()
        let version = try checkVersion()
        try checkPreambleCRC()
        let flags = try checkFlags()
        let (fileLength, tableLength) = try checkLengths()
        let json = try readTable(length: tableLength, flags: flags, minor: version.minor)
        let table = try TableReader(path: path, version: version).read(json)   // steps 7 and 8
        try checkPlacement(table, tableEnd: LBAFormat.tableOffset + tableLength, fileLength: fileLength)
        try checkDecodedSize(table, fileLength: fileLength)
        let decoded = try checkAndDecodeSections(table)
        let adapter = try table.makeAdapter(decoded)   // steps 13 and 14: sign padding, finite scales
        var file = LBAFile(version: version, adapter: adapter, sections: table.sections, fileSize: fileLength,
                           tableLength: tableLength, table: json)
        for module in table.modules { file.doraMagnitudes[module.name] = module.doraMagnitude }
        return file
    }

    // MARK: - Preamble (steps 1–5)

    /// Step 1: the magic, then at least a whole preamble.
    private func checkSignature() throws(LBAError) {
        let size = bytes.count
        let magic = LBAFormat.magic
        let prefix = min(size, magic.count)
        for i in 0..<prefix where bytes[i] != magic[i] { throw .badMagic(path: path) }
        guard size >= LBAFormat.preambleSize else {
            throw .truncated(path: path, context: "preamble", size: size, needed: LBAFormat.preambleSize)
        }
    }

    /// Step 2: a major version this reader implements.
    private func checkVersion() throws(LBAError) -> LBAVersion {
        let major = Int(bytes.loadLE(UInt16.self, at: P.major))
        let minor = Int(bytes.loadLE(UInt16.self, at: P.minor))
        guard major == LBAFormat.majorVersion else { throw .unsupportedVersion(path: path, major: major, minor: minor) }
        return LBAVersion(major: major, minor: minor)
    }

    /// Step 3: the preamble CRC.
    private func checkPreambleCRC() throws(LBAError) {
        let storedPreambleCRC = bytes.loadLE(UInt32.self, at: P.preambleCRC)
        let preambleCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<P.preambleCRC]))
        guard storedPreambleCRC == preambleCRC else {
            throw .checksum(path: path, context: "preamble", stored: storedPreambleCRC, computed: preambleCRC)
        }
    }

    /// Step 4: known flags and zero reserved bytes (the table's decoded length is checked with
    /// the table, ``compressedTableLength(flags:minor:storedLength:)``).
    private func checkFlags() throws(LBAError) -> UInt32 {
        let flags = bytes.loadLE(UInt32.self, at: P.flags)
        guard flags & ~LBAFormat.knownFlags == 0 else { throw .unsupportedFlags(path: path, flags: flags) }
        for offset in P.reserved..<P.preambleCRC where bytes[offset] != 0 {
            throw .nonZeroPadding(path: path, context: "preamble reserved bytes", offset: offset)
        }
        return flags
    }

    /// Step 5: the table offset, the declared file length against the actual size, and a table
    /// length that fits.
    private func checkLengths() throws(LBAError) -> (fileLength: Int, tableLength: Int) {
        let size = bytes.count
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
        return (fileLength, Int(rawTableLength))
    }

    // MARK: - Table (step 6)

    /// Step 6: the table CRC over the stored bytes, then the JSON (decompressed first when the
    /// flags say so).
    private func readTable(length tableLength: Int, flags: UInt32, minor: Int) throws(LBAError) -> JSONValue {
        let tableEnd = LBAFormat.tableOffset + tableLength
        let tableBytes = UnsafeRawBufferPointer(rebasing: bytes[LBAFormat.tableOffset..<tableEnd])
        let storedTableCRC = bytes.loadLE(UInt32.self, at: P.tableCRC)
        let tableCRC = CRC32C.checksum(tableBytes)
        guard storedTableCRC == tableCRC else {
            throw .checksum(path: path, context: "table", stored: storedTableCRC, computed: tableCRC)
        }
        do {
            if let decodedLength = try compressedTableLength(flags: flags, minor: minor, storedLength: tableLength) {
                let decoded: [UInt8]
                do { decoded = try Zstd.decompress(tableBytes, expectedSize: decodedLength) } catch {
                    throw LBAError.compression(path: path, context: "table", problem: error.description)
                }
                return try decoded.withUnsafeBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            } else {
                return try JSONParser.parse(tableBytes)
            }
        } catch let error as LBAError {
            throw error
        } catch let error as JSONError {
            throw .table(path: path, context: "table", problem: error.description)
        } catch {
            throw .table(path: path, context: "table", problem: "\(error)")
        }
    }

    // MARK: - Sections (steps 9–12)

    /// Step 9: sections in table order, each at the next 64-byte boundary, within the file;
    /// the file ends at the first boundary after the last; every padding byte zero.
    private func checkPlacement(_ table: TableReader.Table, tableEnd: Int, fileLength: Int) throws(LBAError) {
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
    }

    /// Step 10: the total decoded size, bounded by the file's own size before anything is allocated.
    private func checkDecodedSize(_ table: TableReader.Table, fileLength: Int) throws(LBAError) {
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
    }

    /// Steps 11 and 12, section by section: the CRC of the stored bytes, then the decoded bytes
    /// (`nil` for a content this reader does not know).
    private func checkAndDecodeSections(_ table: TableReader.Table) throws(LBAError) -> [[UInt8]?] {
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
        return decoded
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
