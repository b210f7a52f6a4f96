#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of an encoded `.lba` file and how they divide among the adapter's parts.
public struct EncodedLBAFile: Sendable {
    /// The whole file.
    public var bytes: [UInt8]
    /// Stored bytes of each module's sections (alignment padding excluded), in module order.
    public var moduleBytes: [Int]
    /// Stored bytes of all carried-tensor sections (alignment padding excluded).
    public var carriedBytes: Int

    public init(bytes: [UInt8], moduleBytes: [Int], carriedBytes: Int) {
        self.bytes = bytes
        self.moduleBytes = moduleBytes
        self.carriedBytes = carriedBytes
    }
}

/// Serializes a ``BinaryAdapter`` into the `.lba` format (`formats/lba.md`).
///
/// The output depends only on the adapter (and the libzstd version when a section compresses):
/// the same adapter always gives the same bytes.
public struct LBAWriter: Sendable {
    /// Try zstd on every section and keep it where it pays (default true). When false every
    /// section is stored raw.
    public var compression: Bool
    /// The zstd level used when trying compression.
    public var compressionLevel: Int32
    /// Also try zstd on the table (format 1.1) and keep it when the file gets shorter (default
    /// true, with `compression`). False writes the table raw, as a 1.0 reader can read it.
    public var tableCompression: Bool
    /// Threads preparing the modules' sections (payload bytes and zstd candidates); the bytes
    /// written do not depend on it.
    public var threads: Int

    public init() {
        self.init(compression: true)
    }

    /// A writer with explicit compression settings.
    public init(compression: Bool, compressionLevel: Int32 = LBAFormat.zstdLevel, tableCompression: Bool = true,
                threads: Int = 1) {
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.tableCompression = tableCompression
        self.threads = threads
    }

    /// Serializes an adapter; also returns the stored byte count attributable to each module
    /// (its sections, in module order) and to carried tensors.
    /// - Throws: `LBAError.invalidAdapter` (path `<memory>`) when the adapter cannot be stored
    ///   faithfully (duplicate names, inconsistent shapes, sign padding bits set, a non-finite
    ///   LoRA scale, a carried tensor whose bytes do not match its shape).
    public func encode(_ adapter: BinaryAdapter) throws(LBAError) -> EncodedLBAFile {
        try encode(adapter, path: "<memory>")
    }

    /// `encode` followed by an atomic write to `path`; refuses to replace an existing file
    /// unless `overwrite` is true. Nothing is left at `path` (or beside it) on failure.
    @discardableResult
    public func write(_ adapter: BinaryAdapter, to path: String, overwrite: Bool) throws(LBAError) -> EncodedLBAFile {
        if !overwrite, FileSystem.exists(path) { throw .fileExists(path: path) }
        let encoded = try encode(adapter, path: path)
        do {
            try AtomicFile.write(encoded.bytes, to: path, overwrite: overwrite)
        } catch {
            if error.isExistingDestination { throw .fileExists(path: path) }
            throw .io(path: path, operation: error.operation, errno: error.errno)
        }
        return encoded
    }

    // MARK: - Encoding

    struct Section {
        var content: LBASectionContent
        /// Module index or carried-tensor index.
        var owner: Int
        var stored: [UInt8]
        var decodedLength: Int
        var encoding: LBAEncoding
        var crc: UInt32
    }

    func encode(_ adapter: BinaryAdapter, path: String) throws(LBAError) -> EncodedLBAFile {
        try LBAWriter.validate(adapter, path: path)
        let context: Zstd.CompressionContext?
        if compression {
            do { context = try Zstd.CompressionContext() } catch {
                throw .compression(path: path, context: "writer", problem: error.description)
            }
        } else {
            context = nil
        }

        var sections: [Section] = []
        var budget = DecodedBudget()
        var moduleSections: [[LBASectionContent: Int]] = []
        var moduleBytes: [Int] = []
        for (index, payloads) in try preparedModules(adapter, path: path).enumerated() {
            var references: [LBASectionContent: Int] = [:]
            var total = 0
            for payload in payloads {
                let section = store(payload.bytes, content: payload.content, owner: index, compressed: payload.compressed,
                                budget: &budget, scaleDType: adapter.scaleDType)
                references[payload.content] = sections.count
                total += section.stored.count
                sections.append(section)
            }
            moduleSections.append(references)
            moduleBytes.append(total)
        }
        var carriedSections: [Int] = []
        var carriedBytes = 0
        for (index, tensor) in adapter.carried.enumerated() {
            let section = store(tensor.bytes, content: .carried, owner: index,
                                compressed: try zstdCandidate(tensor.bytes, content: .carried, context: context, path: path),
                                budget: &budget, scaleDType: adapter.scaleDType)
            carriedSections.append(sections.count)
            carriedBytes += section.stored.count
            sections.append(section)
        }

        // The table is stored zstd-compressed (format 1.1) when that makes the file shorter.
        let plainMinor = LBAWriter.minorVersion(of: adapter)
        var layout = tableLayout(adapter, sections: sections, moduleSections: moduleSections,
                                 carriedSections: carriedSections, minor: plainMinor, context: nil)!
        if tableCompression, let context, let packed = tableLayout(adapter, sections: sections, moduleSections: moduleSections,
                                                 carriedSections: carriedSections, minor: 1, context: context),
           packed.fileLength < layout.fileLength {
            layout = packed
        }
        let (table, offsets, fileLength) = (layout.stored, layout.offsets, layout.fileLength)
        try LBAWriter.checkReadable(LBAWriter.table(adapter, sections: sections, offsets: offsets, moduleSections: moduleSections,
                                                    carriedSections: carriedSections, minor: layout.minor),
                                    minor: layout.minor, path: path)
        var bytes = LBAFormat.preamble(minor: layout.minor, flags: layout.decodedLength > 0 ? LBAFormat.Flags.compressedTable : 0,
                                       tableLength: table.count, tableDecodedLength: layout.decodedLength,
                                       fileLength: fileLength, tableCRC: CRC32C.checksum(table))
        bytes.reserveCapacity(fileLength)
        bytes.append(contentsOf: table)
        for (section, offset) in zip(sections, offsets) {
            bytes.append(contentsOf: repeatElement(0, count: offset - bytes.count))
            bytes.append(contentsOf: section.stored)
        }
        bytes.append(contentsOf: repeatElement(0, count: fileLength - bytes.count))
        return EncodedLBAFile(bytes: bytes, moduleBytes: moduleBytes, carriedBytes: carriedBytes)
    }

    /// Where the table and sections go: the stored table bytes, each section's offset, the file length.
    private struct TableLayout {
        var stored: [UInt8]
        /// The JSON's length when `stored` is a zstd frame, else 0.
        var decodedLength: Int
        var offsets: [Int]
        var fileLength: Int
        var minor: Int
    }

    /// The table holds the section offsets, which depend on the table's stored length: iterate
    /// to the fixed point. Raw, lengths only grow with the offsets, so this takes two or three
    /// rounds; compressed (`context` given), the length may wobble, and a layout that has not
    /// settled after a few rounds is given up (`nil`).
    private func tableLayout(_ adapter: BinaryAdapter, sections: [Section], moduleSections: [[LBASectionContent: Int]],
                             carriedSections: [Int], minor: Int, context: Zstd.CompressionContext?) -> TableLayout? {
        var tableRegion = 0
        for _ in 0..<12 {
            var offset = LBAFormat.tableOffset + tableRegion
            var offsets: [Int] = []
            for section in sections {
                offsets.append(offset)
                offset = LBAFormat.aligned(offset + section.stored.count)!
            }
            let json = LBAWriter.table(adapter, sections: sections, offsets: offsets, moduleSections: moduleSections,
                                       carriedSections: carriedSections, minor: minor).serializedBytes()
            var stored = json
            if let context {
                guard let frame = json.withUnsafeBytes({ try? context.compress($0, level: compressionLevel) }),
                      LBAFormat.withinZstdRatio(decoded: json.count, stored: frame.count) else { return nil }
                stored = frame
            }
            let region = LBAFormat.aligned(stored.count)!
            if region == tableRegion {
                var fileLength = LBAFormat.tableOffset + tableRegion
                if let last = sections.indices.last {
                    fileLength = LBAFormat.aligned(offsets[last] + sections[last].stored.count)!
                }
                return TableLayout(stored: stored, decodedLength: context == nil ? 0 : json.count, offsets: offsets,
                                   fileLength: fileLength, minor: minor)
            }
            precondition(context != nil || region > tableRegion, "table layout did not converge")
            tableRegion = region
        }
        return nil
    }

    /// The decoded and stored sizes so far, so no file is written that a reader would refuse
    /// for decoding to too much (``LBAFormat/withinDecodedBudget(memory:stored:)``).
    struct DecodedBudget {
        var memory = 0
        var stored = 0
    }

    /// A section for `payload`: its zstd frame `compressed` (if one was made, see
    /// ``zstdCandidate(_:content:context:path:)``) when that saves enough and stays within the
    /// decoded budget, raw otherwise.
    private func store(_ payload: [UInt8], content: LBASectionContent, owner: Int, compressed: [UInt8]?,
                       budget: inout DecodedBudget, scaleDType: ScaleDType) -> Section {
        let memory = LBAFormat.memorySize(decoded: payload.count, content: content, scaleDType: scaleDType)
        budget.memory += memory
        let fits = LBAFormat.withinDecodedBudget(memory: budget.memory, stored: budget.stored + (compressed?.count ?? 0))
        let section = encodeSection(payload, content: content, owner: owner, compressed: fits ? compressed : nil)
        budget.stored += section.stored.count
        return section
    }

    /// The zstd frame of `payload` when compression is on and the payload is long enough to
    /// save anything, else nil.
    func zstdCandidate(_ payload: [UInt8], content: LBASectionContent, context: Zstd.CompressionContext?,
                               path: String) throws(LBAError) -> [UInt8]? {
        guard let context, payload.count > LBAFormat.minimumSavingBytes else { return nil }
        do {
            return try payload.withUnsafeBytes { buffer in
                Result { () throws(ZstdError) -> [UInt8] in try context.compress(buffer, level: compressionLevel) }
            }.get()
        } catch {
            throw .compression(path: path, context: content.name, problem: error.description)
        }
    }

    /// A zstd section when `compressed` saves enough, else raw.
    private func encodeSection(_ payload: [UInt8], content: LBASectionContent, owner: Int, compressed: [UInt8]?) -> Section {
        if let compressed, LBAFormat.keepsCompressed(rawCount: payload.count, compressedCount: compressed.count) {
            return Section(content: content, owner: owner, stored: compressed, decodedLength: payload.count,
                           encoding: .zstd, crc: CRC32C.checksum(compressed))
        }
        return Section(content: content, owner: owner, stored: payload, decodedLength: payload.count,
                       encoding: .raw, crc: CRC32C.checksum(payload))
    }

    // MARK: - Payloads

    /// The packed words of `signs`, little-endian.
    static func bytes(of signs: SignMatrix) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(signs.words.count * 8)
        for word in signs.words { out.appendLE(word) }
        return out
    }
}
