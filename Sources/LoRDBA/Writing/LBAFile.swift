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
        do { json = try JSONParser.parse(tableBytes) } catch {
            throw .table(path: path, context: "table", problem: error.description)
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
        return LBAFile(version: version, adapter: adapter, sections: table.sections, fileSize: fileLength,
                       tableLength: tableLength, table: json)
    }

    private func checkZero(_ range: Range<Int>, context: String) throws(LBAError) {
        for offset in range where bytes[offset] != 0 {
            throw .nonZeroPadding(path: path, context: context, offset: offset)
        }
    }
}

// MARK: - Table

/// Reads and cross-checks the JSON table; turns decoded sections into the adapter.
private struct TableReader {
    let path: String
    let version: LBAVersion
    /// Unknown members are refused unless the file is of a newer minor version than this reader.
    var strict: Bool { version.minor <= LBAFormat.minorVersion }

    struct Module {
        var name: String
        var kind: ModuleKind
        var inFeatures: Int
        var outFeatures: Int
        var rank: Int
        var binaryRank: Int
        var loraScale: Double
        var source: LoRAModule.Source
        var sections: [LBASectionContent: Int]
    }

    struct Carried {
        var name: String
        var dtype: TensorDType
        var shape: [Int]
        var section: Int
    }

    struct Table {
        let path: String
        var layout: AdapterLayout
        var scaleDType: ScaleDType
        var metadata: [String: String]
        var modules: [Module]
        var carried: [Carried]
        var sections: [LBASectionInfo]

        func label(_ index: Int) -> String { sections[index].label }

        /// Builds the adapter from decoded section bytes (checking sign padding bits).
        func makeAdapter(_ decoded: [[UInt8]?]) throws(LBAError) -> BinaryAdapter {
            var modules: [BinaryModule] = []
            modules.reserveCapacity(self.modules.count)
            for module in self.modules {
                func section(_ content: LBASectionContent) -> [UInt8]? {
                    module.sections[content].flatMap { decoded[$0] }
                }
                let signA = try signs(section(.signA)!, rows: module.binaryRank, cols: module.inFeatures,
                                      label: label(module.sections[.signA]!))
                let signB = try signs(section(.signB)!, rows: module.binaryRank, cols: module.outFeatures,
                                      label: label(module.sections[.signB]!))
                let scales = ChannelScales(
                    input: section(.scaleA).map { floats($0, dtype: scaleDType) },
                    middle: floats(section(.scaleM)!, dtype: .f32),
                    output: floats(section(.scaleB)!, dtype: scaleDType))
                modules.append(BinaryModule(name: module.name, kind: module.kind, rank: module.rank,
                                            loraScale: module.loraScale, signA: signA, signB: signB,
                                            scales: scales, source: module.source))
            }
            let carried = self.carried.map { tensor in
                CarriedTensor(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: decoded[tensor.section]!)
            }
            return BinaryAdapter(layout: layout, modules: modules, carried: carried, metadata: metadata,
                                 scaleDType: scaleDType)
        }

        private func signs(_ bytes: [UInt8], rows: Int, cols: Int, label: String) throws(LBAError) -> SignMatrix {
            let count = bytes.count / 8
            var words = [UInt64](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                for i in 0..<count { words[i] = raw.loadLE(UInt64.self, at: i * 8) }
            }
            if let row = LBALayoutMath.firstRowWithPaddingBits(words, rows: rows, cols: cols) {
                throw .signPadding(path: path, context: label, row: row)
            }
            return SignMatrix(rows: rows, cols: cols, words: words)
        }

        private func floats(_ bytes: [UInt8], dtype: ScaleDType) -> [Float] {
            let count = bytes.count / dtype.byteWidth
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                bytes.withUnsafeBytes { raw in
                    switch dtype {
                    case .f16:
                        TensorDType.f16.decodeFloats(raw, count: count, into: out)
                    case .bf16:
                        TensorDType.bf16.decodeFloats(raw, count: count, into: out)
                    case .f32:
                        for i in 0..<count { out[i] = Float(bitPattern: raw.loadLE(UInt32.self, at: i * 4)) }
                    case .e4m3:
                        for i in 0..<count { out[i] = E4M3.float(raw[i]) }
                    }
                }
                initialized = count
            }
        }
    }

    func fail(_ context: String, _ problem: String) -> LBAError {
        .table(path: path, context: context, problem: problem)
    }

    func read(_ json: JSONValue) throws(LBAError) -> Table {
        var root = try ObjectReader(json, context: "table", reader: self)
        let format = try root.string("format")
        guard format == LBAFormat.formatName else { throw fail("table", "format is \(LBAError.quote(format)), expected \"lba\"") }
        let versionArray = try root.array("version")
        guard versionArray.count == 2, versionArray[0] == .integer(Int64(version.major)),
              versionArray[1] == .integer(Int64(version.minor)) else {
            throw fail("table", "version \(JSONValue.array(versionArray).serialized()) does not match the preamble's \(version)")
        }
        let layoutName = try root.string("layout")
        guard let layout = AdapterLayout(rawValue: layoutName) else {
            throw fail("table", "unknown layout \(LBAError.quote(layoutName))")
        }
        let scaleName = try root.string("scale_dtype")
        guard let scaleDType = ScaleDType(rawValue: scaleName) else {
            throw fail("table", "unknown scale_dtype \(LBAError.quote(scaleName))")
        }
        var metadata: [String: String] = [:]
        for (key, value) in try root.object("metadata") {
            guard let text = value.stringValue else {
                throw fail("table", "metadata \(LBAError.quote(key)) is \(article(value.typeName)), expected a string")
            }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw fail("table", "metadata key \(LBAError.quote(key)) appears twice")
            }
        }
        let moduleValues = try root.array("modules")
        let carriedValues = try root.array("carried")
        let sectionValues = try root.array("sections")
        try root.finish()

        // Sections first, so modules and tensors can be checked against them.
        var sections: [LBASectionInfo] = []
        var owners: [Int] = []
        for (index, value) in sectionValues.enumerated() {
            let context = "section \(index)"
            var object = try ObjectReader(value, context: context, reader: self)
            let content = LBASectionContent(name: try object.string("content"))
            var owner = -1
            switch content {
            case .carried: owner = try object.int("tensor")
            case .unknown:
                guard !strict else { throw fail(context, "unknown content \(LBAError.quote(content.name))") }
            default: owner = try object.int("module")
            }
            let offset = try object.int("offset")
            let length = try object.int("length")
            let decodedLength = try object.int("decoded_length")
            let encodingName = try object.string("encoding")
            let crc = try object.int("crc32c")
            try object.finish()
            guard crc <= Int(UInt32.max) else { throw fail(context, "crc32c \(crc) does not fit in 32 bits") }
            guard let encoding = LBAEncoding(rawValue: encodingName) else {
                throw .unknownEncoding(path: path, context: context, encoding: encodingName)
            }
            switch encoding {
            case .raw:
                guard decodedLength == length else {
                    throw .layout(path: path, context: context, problem: "raw section with length \(length) but decoded_length \(decodedLength)")
                }
            case .zstd:
                guard length > 0, LBAFormat.withinZstdRatio(decoded: decodedLength, stored: length) else {
                    throw .compression(path: path, context: context,
                                       problem: "decoded_length \(decodedLength) is impossible for \(length) bytes of zstd")
                }
            }
            sections.append(LBASectionInfo(index: index, content: content, module: nil, tensor: nil, offset: offset,
                                           storedLength: length, decodedLength: decodedLength,
                                           encoding: encoding, crc32c: UInt32(crc)))
            owners.append(owner)
        }
        var claimed = [Bool](repeating: false, count: sections.count)
        func ownerName(_ index: Int) -> String {
            let isTensor = sections[index].content == .carried
            let list = isTensor ? carriedValues : moduleValues
            let owner = owners[index]
            let name = owner < list.count ? list[owner]["name"]?.stringValue.map { " " + LBAError.quote($0) } : nil
            return "\(isTensor ? "carried tensor" : "module") \(owner)\(name ?? "")"
        }
        func claim(_ index: Int, content: LBASectionContent, owner: Int, context: String) throws(LBAError) {
            guard index < sections.count else {
                throw fail(context, "\(content.name) refers to section \(index), but there are \(sections.count)")
            }
            guard sections[index].content == content, owners[index] == owner else {
                throw fail(context, "\(content.name) refers to section \(index), which holds \(sections[index].content.name) of \(ownerName(index))")
            }
            guard !claimed[index] else { throw fail(context, "section \(index) is used twice") }
            claimed[index] = true
        }

        var modules: [Module] = []
        var moduleNames = Set<String>()
        for (index, value) in moduleValues.enumerated() {
            var object = try ObjectReader(value, context: "module \(index)", reader: self)
            let name = try object.string("name")
            let context = "module \(LBAError.quote(name))"
            object.context = context
            guard moduleNames.insert(name).inserted else { throw fail(context, "duplicate module name") }
            let kindName = try object.string("kind")
            let kind: ModuleKind
            switch kindName {
            case "linear": kind = .linear
            case "embedding": kind = .embedding
            case "conv":
                let kernelValues = try object.array("kernel")
                var kernel: [Int] = []
                for value in kernelValues {
                    guard case .integer(let k) = value, k >= 1, k <= Int64(Int32.max) else {
                        throw fail(context, "kernel entries must be integers from 1 to \(Int32.max)")
                    }
                    kernel.append(Int(k))
                }
                kind = .conv(kernel: kernel)
            default: throw fail(context, "unknown kind \(LBAError.quote(kindName))")
            }
            let inFeatures = try object.int("in")
            let outFeatures = try object.int("out")
            let rank = try object.int("rank")
            let binaryRank = try object.int("binary_rank")
            let loraScale = try object.number("lora_scale")
            var sourceObject = try ObjectReader(.object(try object.object("source")), context: context + " source", reader: self)
            let aTensor = try sourceObject.string("a")
            let bTensor = try sourceObject.string("b")
            let alphaTensor = try sourceObject.optionalString("alpha")
            let dtypeName = try sourceObject.string("dtype")
            try sourceObject.finish()
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw fail(context, "unknown source dtype \(LBAError.quote(dtypeName))")
            }
            var referenceObject = try ObjectReader(.object(try object.object("sections")), context: context + " sections", reader: self)
            var references: [LBASectionContent: Int] = [:]
            for content in LBASectionContent.moduleContents {
                let reference = content == .scaleA ? try referenceObject.optionalInt(content.name)
                                                   : try referenceObject.int(content.name)
                if let reference {
                    try claim(reference, content: content, owner: index, context: context)
                    references[content] = reference
                    sections[reference].module = name
                }
            }
            try referenceObject.finish()
            try object.finish()
            if case .conv(let kernel) = kind, let problem = LBALayoutMath.kernelProblem(kernel, inFeatures: inFeatures) {
                throw .shape(path: path, context: context, problem: problem)
            }
            // Decoded sizes must match the shapes exactly.
            let expectations: [(LBASectionContent, Int?)] = [
                (.signA, LBALayoutMath.signBytes(rows: binaryRank, cols: inFeatures)),
                (.signB, LBALayoutMath.signBytes(rows: binaryRank, cols: outFeatures)),
                (.scaleA, LBALayoutMath.product(inFeatures, scaleDType.byteWidth)),
                (.scaleB, LBALayoutMath.product(outFeatures, scaleDType.byteWidth)),
                (.scaleM, LBALayoutMath.product(binaryRank, 4)),
            ]
            for (content, expected) in expectations {
                guard let reference = references[content] else { continue }
                let actual = sections[reference].decodedLength
                guard let expected, expected == actual else {
                    throw .shape(path: path, context: sections[reference].label,
                                 problem: "holds \(actual) bytes, but in = \(inFeatures), out = \(outFeatures), binary_rank = \(binaryRank) need \(expected.map(String.init) ?? "more than can be addressed")")
                }
            }
            modules.append(Module(name: name, kind: kind, inFeatures: inFeatures, outFeatures: outFeatures,
                                  rank: rank, binaryRank: binaryRank, loraScale: loraScale,
                                  source: LoRAModule.Source(aTensor: aTensor, bTensor: bTensor,
                                                            alphaTensor: alphaTensor, dtype: dtype),
                                  sections: references))
        }

        var carried: [Carried] = []
        var carriedNames = Set<String>()
        for (index, value) in carriedValues.enumerated() {
            var object = try ObjectReader(value, context: "carried tensor \(index)", reader: self)
            let name = try object.string("name")
            let context = "carried tensor \(LBAError.quote(name))"
            object.context = context
            guard carriedNames.insert(name).inserted else { throw fail(context, "duplicate carried tensor name") }
            let dtypeName = try object.string("dtype")
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw fail(context, "unknown dtype \(LBAError.quote(dtypeName))")
            }
            var shape: [Int] = []
            for value in try object.array("shape") {
                guard case .integer(let dimension) = value, dimension >= 0 else {
                    throw fail(context, "shape entries must be non-negative integers")
                }
                shape.append(Int(dimension))
            }
            let section = try object.int("section")
            try object.finish()
            try claim(section, content: .carried, owner: index, context: context)
            sections[section].tensor = name
            let actual = sections[section].decodedLength
            guard let expected = LBALayoutMath.tensorBytes(dtype: dtype, shape: shape), expected == actual else {
                throw .shape(path: path, context: sections[section].label,
                             problem: "holds \(actual) bytes, but \(dtypeName) shape \(shape) needs \(LBALayoutMath.tensorBytes(dtype: dtype, shape: shape).map(String.init) ?? "more than can be addressed")")
            }
            carried.append(Carried(name: name, dtype: dtype, shape: shape, section: section))
        }

        for index in sections.indices where !claimed[index] {
            if case .unknown = sections[index].content { continue }
            throw fail(sections[index].label, "not referenced by its owner, \(ownerName(index))")
        }
        return Table(path: path, layout: layout, scaleDType: scaleDType, metadata: metadata, modules: modules,
                     carried: carried, sections: sections)
    }
}

/// Typed access to the members of one JSON object, tracking which were read.
private struct ObjectReader {
    let members: [(String, JSONValue)]
    var context: String
    let reader: TableReader
    private var used = Set<String>()

    init(_ value: JSONValue, context: String, reader: TableReader) throws(LBAError) {
        guard let members = value.objectValue else {
            throw reader.fail(context, "expected an object, found \(article(value.typeName))")
        }
        self.members = members
        self.context = context
        self.reader = reader
    }

    private mutating func value(_ key: String) -> JSONValue? {
        used.insert(key)
        return members.first { $0.0 == key }?.1
    }

    private mutating func required(_ key: String) throws(LBAError) -> JSONValue {
        guard let value = value(key) else { throw reader.fail(context, "missing member \"\(key)\"") }
        return value
    }

    private func wrongType(_ key: String, _ value: JSONValue, _ expected: String) -> LBAError {
        reader.fail(context, "member \"\(key)\" is \(article(value.typeName)), expected \(expected)")
    }

    mutating func string(_ key: String) throws(LBAError) -> String {
        let value = try required(key)
        guard let text = value.stringValue else { throw wrongType(key, value, "a string") }
        return text
    }

    mutating func optionalString(_ key: String) throws(LBAError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.stringValue else { throw wrongType(key, value, "a string") }
        return text
    }

    /// A non-negative integer (written without fraction or exponent).
    mutating func int(_ key: String) throws(LBAError) -> Int {
        let value = try required(key)
        guard case .integer(let number) = value else { throw wrongType(key, value, "an integer") }
        guard number >= 0 else { throw reader.fail(context, "member \"\(key)\" is negative (\(number))") }
        return Int(number)
    }

    mutating func optionalInt(_ key: String) throws(LBAError) -> Int? {
        guard members.contains(where: { $0.0 == key }) else { used.insert(key); return nil }
        return try int(key)
    }

    /// A finite number.
    mutating func number(_ key: String) throws(LBAError) -> Double {
        let value = try required(key)
        guard let number = value.doubleValue else { throw wrongType(key, value, "a number") }
        return number
    }

    mutating func array(_ key: String) throws(LBAError) -> [JSONValue] {
        let value = try required(key)
        guard let items = value.arrayValue else { throw wrongType(key, value, "an array") }
        return items
    }

    mutating func object(_ key: String) throws(LBAError) -> [(String, JSONValue)] {
        let value = try required(key)
        guard let members = value.objectValue else { throw wrongType(key, value, "an object") }
        return members
    }

    /// Refuses members that were never read, unless the file is of a newer minor version.
    func finish() throws(LBAError) {
        guard reader.strict else { return }
        for (key, _) in members where !used.contains(key) {
            throw reader.fail(context, "unknown member \(LBAError.quote(key))")
        }
    }
}

/// "a number", "an object", …
private func article(_ noun: String) -> String {
    (noun.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + noun
}
