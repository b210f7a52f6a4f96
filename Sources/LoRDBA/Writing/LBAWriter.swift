#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of an encoded `.lba` file and how they divide among the adapter's parts.
public struct LBAEncoded: Sendable {
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

    public init() {
        self.init(compression: true)
    }

    /// A writer with explicit compression settings.
    public init(compression: Bool, compressionLevel: Int32 = LBAFormat.zstdLevel, tableCompression: Bool = true) {
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.tableCompression = tableCompression
    }

    /// Serializes an adapter; also returns the stored byte count attributable to each module
    /// (its sections, in module order) and to carried tensors.
    /// - Throws: `LBAError.invalidAdapter` (path `<memory>`) when the adapter cannot be stored
    ///   faithfully (duplicate names, inconsistent shapes, sign padding bits set, a non-finite
    ///   LoRA scale, a carried tensor whose bytes do not match its shape).
    public func encode(_ adapter: BinaryAdapter) throws(LBAError) -> LBAEncoded {
        try encode(adapter, path: "<memory>")
    }

    /// `encode` followed by an atomic write to `path`; refuses to replace an existing file
    /// unless `overwrite` is true. Nothing is left at `path` (or beside it) on failure.
    @discardableResult
    public func write(_ adapter: BinaryAdapter, to path: String, overwrite: Bool) throws(LBAError) -> LBAEncoded {
        if !overwrite, AtomicFile.exists(path) { throw .fileExists(path: path) }
        let encoded = try encode(adapter, path: path)
        do {
            try AtomicFile.write(encoded.bytes, to: path, overwrite: overwrite)
        } catch {
            if error.errno == EEXIST, error.operation == "create" { throw .fileExists(path: path) }
            throw .io(path: path, operation: error.operation, errno: error.errno)
        }
        return encoded
    }

    // MARK: - Encoding

    private struct Section {
        var content: LBASectionContent
        /// Module index or carried-tensor index.
        var owner: Int
        var stored: [UInt8]
        var decodedLength: Int
        var encoding: LBAEncoding
        var crc: UInt32
    }

    func encode(_ adapter: BinaryAdapter, path: String) throws(LBAError) -> LBAEncoded {
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
        for (index, module) in adapter.modules.enumerated() {
            var payloads: [(LBASectionContent, [UInt8])] = [
                (.signA, LBAWriter.bytes(of: module.signA)),
                (.signB, LBAWriter.bytes(of: module.signB)),
            ]
            if let a = module.scales.input { payloads.append((.scaleA, LBAWriter.bytes(of: a, as: adapter.scaleDType))) }
            payloads.append((.scaleB, LBAWriter.bytes(of: module.scales.output, as: adapter.scaleDType)))
            payloads.append((.scaleM, LBAWriter.bytes(of: module.scales.middle, as: .f32)))
            var references: [LBASectionContent: Int] = [:]
            var total = 0
            for (content, payload) in payloads {
                let section = try store(payload, content: content, owner: index, context: context, path: path,
                                        budget: &budget, scaleDType: adapter.scaleDType)
                references[content] = sections.count
                total += section.stored.count
                sections.append(section)
            }
            moduleSections.append(references)
            moduleBytes.append(total)
        }
        var carriedSections: [Int] = []
        var carriedBytes = 0
        for (index, tensor) in adapter.carried.enumerated() {
            let section = try store(tensor.bytes, content: .carried, owner: index, context: context, path: path,
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
        return LBAEncoded(bytes: bytes, moduleBytes: moduleBytes, carriedBytes: carriedBytes)
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
            let json = Array(LBAWriter.table(adapter, sections: sections, offsets: offsets, moduleSections: moduleSections,
                                             carriedSections: carriedSections, minor: minor).serialized().utf8)
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

    /// A section for `payload`: zstd when that saves enough and stays within the decoded
    /// budget, raw otherwise.
    private func store(_ payload: [UInt8], content: LBASectionContent, owner: Int,
                       context: Zstd.CompressionContext?, path: String,
                       budget: inout DecodedBudget, scaleDType: ScaleDType) throws(LBAError) -> Section {
        let memory = LBAFormat.memorySize(decoded: payload.count, content: content, scaleDType: scaleDType)
        budget.memory += memory
        let section = try encodeSection(payload, content: content, owner: owner, context: context, path: path,
                                        fits: { stored in LBAFormat.withinDecodedBudget(memory: budget.memory, stored: budget.stored + stored) })
        budget.stored += section.stored.count
        return section
    }

    private func encodeSection(_ payload: [UInt8], content: LBASectionContent, owner: Int,
                               context: Zstd.CompressionContext?, path: String,
                               fits: (Int) -> Bool) throws(LBAError) -> Section {
        if let context, payload.count > LBAFormat.minimumSavingBytes {
            let compressed: [UInt8]
            do {
                compressed = try payload.withUnsafeBytes { buffer in
                    Result { () throws(ZstdError) -> [UInt8] in try context.compress(buffer, level: compressionLevel) }
                }.get()
            } catch {
                throw .compression(path: path, context: content.name, problem: error.description)
            }
            if LBAFormat.keepsCompressed(rawCount: payload.count, compressedCount: compressed.count), fits(compressed.count) {
                return Section(content: content, owner: owner, stored: compressed, decodedLength: payload.count,
                               encoding: .zstd, crc: CRC32C.checksum(compressed))
            }
        }
        return Section(content: content, owner: owner, stored: payload, decodedLength: payload.count,
                       encoding: .raw, crc: CRC32C.checksum(payload))
    }

    private static func table(_ adapter: BinaryAdapter, sections: [Section], offsets: [Int],
                              moduleSections: [[LBASectionContent: Int]], carriedSections: [Int], minor: Int) -> JSONValue {
        func int(_ value: Int) -> JSONValue { .integer(Int64(value)) }
        var modules: [JSONValue] = []
        for (module, references) in zip(adapter.modules, moduleSections) {
            var members: [(String, JSONValue)] = [("name", .string(module.name)), ("kind", .string(module.kind.name))]
            if case .conv(let kernel) = module.kind { members.append(("kernel", .array(kernel.map(int)))) }
            members += [
                ("in", int(module.inFeatures)),
                ("out", int(module.outFeatures)),
                ("rank", int(module.loraRank)),
                ("binary_rank", int(module.binaryRank)),
                ("lora_scale", .double(module.loraScale)),
            ]
            var source: [(String, JSONValue)] = [("a", .string(module.source.aTensor)), ("b", .string(module.source.bTensor))]
            if let alpha = module.source.alphaTensor { source.append(("alpha", .string(alpha))) }
            source.append(("dtype", .string(module.source.dtype.rawValue)))
            members.append(("source", .object(source)))
            if let magnitude = LBAWriter.doraMagnitude(of: module, in: adapter) {
                members.append(("dora", .object([("magnitude", .string(magnitude))])))
            }
            let refs = LBASectionContent.moduleContents.compactMap { content in
                references[content].map { (content.name, int($0)) }
            }
            members.append(("sections", .object(refs)))
            modules.append(.object(members))
        }
        let carried: [JSONValue] = zip(adapter.carried, carriedSections).map { tensor, section in
            var members: [(String, JSONValue)] = [
                ("name", .string(tensor.name)),
                ("dtype", .string(tensor.dtype.rawValue)),
                ("shape", .array(tensor.shape.map(int))),
            ]
            if let role = tensor.role { members.append(("role", .string(role.rawValue))) }
            members.append(("section", int(section)))
            return .object(members)
        }
        let sectionList: [JSONValue] = zip(sections, offsets).map { section, offset in
            .object([
                ("content", .string(section.content.name)),
                (section.content == .carried ? "tensor" : "module", int(section.owner)),
                ("offset", int(offset)),
                ("length", int(section.stored.count)),
                ("decoded_length", int(section.decodedLength)),
                ("encoding", .string(section.encoding.rawValue)),
                ("crc32c", .integer(Int64(section.crc))),
            ])
        }
        // Metadata sorted by the UTF-8 bytes of the keys, so the order never depends on hashing.
        let metadata = adapter.metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return .object([
            ("format", .string(LBAFormat.formatName)),
            ("version", .array([int(LBAFormat.majorVersion), int(minor)])),
            ("layout", .string(adapter.layout.rawValue)),
            ("scale_dtype", .string(adapter.scaleDType.rawValue)),
            ("metadata", .object(metadata.map { ($0.key, .string($0.value)) })),
            ("modules", .array(modules)),
            ("carried", .array(carried)),
            ("sections", .array(sectionList)),
        ])
    }

    /// The lowest minor version whose features the adapter uses: 1 when a carried tensor has a
    /// `role` (and so when a module is DoRA), else 0.
    static func minorVersion(of adapter: BinaryAdapter) -> Int {
        Swift.max(LBAFormat.minorVersion(for: adapter.layout), adapter.carried.contains { $0.role != nil } ? 1 : 0)
    }

    /// The name of the carried DoRA magnitude of `module` (role `magnitude`, named
    /// `<module>.lora_magnitude_vector`), if the adapter has one.
    static func doraMagnitude(of module: BinaryModule, in adapter: BinaryAdapter) -> String? {
        let name = CarriedRole.magnitudeName(forModule: module.name)
        return adapter.carried.contains {
            $0.role == .magnitude && $0.name == name && LBALayoutMath.elementCount($0.shape) == module.outFeatures
        } ? name : nil
    }

    // MARK: - Payloads

    /// The packed words of `signs`, little-endian.
    static func bytes(of signs: SignMatrix) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(signs.words.count * 8)
        for word in signs.words { out.appendLE(word) }
        return out
    }

    /// `values` in `dtype`, little-endian (round to nearest even).
    static func bytes(of values: [Float], as dtype: ScaleDType) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(values.count * dtype.byteWidth)
        switch dtype {
        case .f16: for v in values { out.appendLE(Float16(v).bitPattern) }
        case .bf16: for v in values { out.appendLE(BFloat16Bits.bits(v)) }
        case .f32: for v in values { out.appendLE(v.bitPattern) }
        case .e4m3: for v in values { out.append(E4M3.bits(v)) }
        }
        return out
    }

    // MARK: - Validation

    /// Refuses adapters the reader would reject or could not reproduce.
    static func validate(_ adapter: BinaryAdapter, path: String) throws(LBAError) {
        func fail(_ context: String, _ problem: String) -> LBAError {
            .invalidAdapter(path: path, context: context, problem: problem)
        }
        for key in adapter.metadata.keys where key.unicodeScalars.contains("\u{0}") {
            throw fail("metadata", "key \(LBAError.quote(key)) holds a NUL character")
        }
        guard !adapter.modules.isEmpty else { throw fail("table", "an adapter needs at least one module") }
        var names = Set<String>()
        for module in adapter.modules {
            let context = "module \(LBAError.quote(module.name))"
            guard names.insert(module.name).inserted else { throw fail(context, "duplicate module name") }
            guard module.loraRank >= 0 else { throw fail(context, "negative rank \(module.loraRank)") }
            guard module.loraScale.isFinite else { throw fail(context, "LoRA scale \(module.loraScale) is not finite") }
            guard module.loraScale > 0 else { throw fail(context, "LoRA scale \(module.loraScale) must be above 0") }
            let dimensions = [("in", module.inFeatures), ("out", module.outFeatures), ("rank", module.loraRank),
                              ("binary rank", module.binaryRank)]
            for (name, value) in dimensions where value < 1 || value > LBAFormat.maximumDimension {
                throw fail(context, "\(name) = \(value) is outside 1…\(LBAFormat.maximumDimension)")
            }
            guard module.binaryRank <= module.loraRank * LBAFormat.maximumBinaryRankMultiple else {
                throw fail(context, "binary rank \(module.binaryRank) is above \(LBAFormat.maximumBinaryRankMultiple) × rank \(module.loraRank)")
            }
            let vectors: [(String, [Float], ScaleDType)] = [("scale_a", module.scales.input ?? [], adapter.scaleDType),
                                                            ("scale_m", module.scales.middle, .f32),
                                                            ("scale_b", module.scales.output, adapter.scaleDType)]
            for (label, values, dtype) in vectors {
                if let index = values.firstIndex(where: { !dtype.rounded($0).isFinite }) {
                    throw fail(context, "\(label) value \(index) is \(values[index]), not finite in \(dtype.rawValue)")
                }
            }
            for (label, signs) in [("sign_a", module.signA), ("sign_b", module.signB)] {
                guard signs.rows >= 0, signs.cols >= 0,
                      let count = LBALayoutMath.signWords(rows: signs.rows, cols: signs.cols),
                      signs.words.count == count else {
                    throw fail(context, "\(label) holds \(signs.words.count) words for shape [\(signs.rows), \(signs.cols)]")
                }
                if let row = LBALayoutMath.firstRowWithPaddingBits(signs.words, rows: signs.rows, cols: signs.cols) {
                    throw fail(context, "\(label) row \(row) has set bits in its padding past the last column")
                }
            }
            guard module.signA.rows == module.signB.rows else {
                throw fail(context, "sign_a has \(module.signA.rows) rows, sign_b \(module.signB.rows)")
            }
            guard module.scales.middle.count == module.binaryRank else {
                throw fail(context, "\(module.scales.middle.count) middle scales for binary rank \(module.binaryRank)")
            }
            guard module.scales.output.count == module.outFeatures else {
                throw fail(context, "\(module.scales.output.count) output scales for \(module.outFeatures) outputs")
            }
            if let input = module.scales.input, input.count != module.inFeatures {
                throw fail(context, "\(input.count) input scales for \(module.inFeatures) inputs")
            }
            if case .conv(let kernel) = module.kind, let problem = LBALayoutMath.kernelProblem(kernel, inFeatures: module.inFeatures) {
                throw fail(context, problem)
            }
        }
        var carriedNames = Set<String>()
        for tensor in adapter.carried {
            let context = "carried tensor \(LBAError.quote(tensor.name))"
            guard carriedNames.insert(tensor.name).inserted else { throw fail(context, "duplicate carried tensor name") }
            guard let expected = LBALayoutMath.tensorBytes(dtype: tensor.dtype, shape: tensor.shape) else {
                throw fail(context, "shape \(tensor.shape) is invalid for \(tensor.dtype.rawValue)")
            }
            guard expected == tensor.bytes.count else {
                throw fail(context, "\(tensor.bytes.count) bytes for \(tensor.dtype.rawValue) shape \(tensor.shape) (expected \(expected))")
            }
        }
    }
}

/// Overflow-checked size arithmetic shared by the writer and the reader.
enum LBALayoutMath {
    /// `rows * ceil(cols / 64)`, or `nil` on overflow or a negative dimension.
    static func signWords(rows: Int, cols: Int) -> Int? {
        guard rows >= 0, cols >= 0 else { return nil }
        let wordsPerRow = cols / 64 + (cols % 64 == 0 ? 0 : 1)
        let (words, overflow) = rows.multipliedReportingOverflow(by: wordsPerRow)
        return overflow ? nil : words
    }

    /// Bytes a module takes in a file with its sections stored raw and aligned (an upper bound
    /// when zstd shrinks a section): both sign matrices, `a` (when stored), `b` and `m`.
    static func storedModuleBytes(inFeatures: Int, outFeatures: Int, binaryRank k: Int, scaleDType: ScaleDType,
                                  inputScales: Bool) -> Int {
        let parts = [signBytes(rows: k, cols: inFeatures)!, signBytes(rows: k, cols: outFeatures)!,
                     inputScales ? inFeatures * scaleDType.byteWidth : 0, outFeatures * scaleDType.byteWidth, 4 * k]
        return parts.reduce(0) { $0 + LBAFormat.aligned($1)! }
    }

    /// Bytes of a packed sign matrix, or `nil` on overflow.
    static func signBytes(rows: Int, cols: Int) -> Int? {
        guard let words = signWords(rows: rows, cols: cols) else { return nil }
        let (bytes, overflow) = words.multipliedReportingOverflow(by: 8)
        return overflow ? nil : bytes
    }

    /// `count * width`, or `nil` on overflow or a negative count.
    static func product(_ count: Int, _ width: Int) -> Int? {
        guard count >= 0, width >= 0 else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
        return overflow ? nil : bytes
    }

    /// Number of elements of a tensor of `shape`, or `nil` on overflow.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard let next = product(count, dimension) else { return nil }
            count = next
        }
        return count
    }

    /// Bytes of a tensor: the element count times the bit width, which must be whole bytes.
    static func tensorBytes(dtype: TensorDType, shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard let next = product(count, dimension) else { return nil }
            count = next
        }
        guard let bits = product(count, dtype.bitWidth), bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// Why a conv kernel shape does not fit `inFeatures`, or `nil` when it does.
    static func kernelProblem(_ kernel: [Int], inFeatures: Int) -> String? {
        var size = 1
        for k in kernel {
            guard k >= 1 else { return "kernel \(kernel) has a dimension below 1" }
            guard let next = product(size, k) else { return "kernel \(kernel) is too large" }
            size = next
        }
        guard inFeatures % size == 0 else {
            return "in = \(inFeatures) is not a multiple of the kernel size \(size) (kernel \(kernel))"
        }
        return nil
    }

    /// The first row with a set bit past column `cols`, or `nil`.
    static func firstRowWithPaddingBits(_ words: [UInt64], rows: Int, cols: Int) -> Int? {
        let used = cols % 64
        guard used != 0, rows > 0 else { return nil }
        let wordsPerRow = cols / 64 + 1
        let mask = ~UInt64(0) << UInt64(used)
        for row in 0..<rows where words[row * wordsPerRow + wordsPerRow - 1] & mask != 0 { return row }
        return nil
    }
}
