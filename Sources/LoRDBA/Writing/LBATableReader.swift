/// Reads and cross-checks the JSON table; turns decoded sections into the adapter.
struct TableReader {
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
        /// Format 1.1: the carried magnitude tensor of a DoRA module.
        var doraMagnitude: String? = nil
    }

    struct Carried {
        var name: String
        var dtype: TensorDType
        var shape: [Int]
        var section: Int
        /// Format 1.1: what the tensor is for.
        var role: CarriedRole? = nil
    }

    /// Whether the file's version has the 1.1 members (`role`, `dora`).
    var hasRoles: Bool { version.minor >= 1 }

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
                    input: try section(.scaleA).map { (bytes) throws(LBAError) -> [Float] in
                        try finite(floats(bytes, dtype: scaleDType), label: label(module.sections[.scaleA]!))
                    },
                    middle: try finite(floats(section(.scaleM)!, dtype: .f32), label: label(module.sections[.scaleM]!)),
                    output: try finite(floats(section(.scaleB)!, dtype: scaleDType), label: label(module.sections[.scaleB]!)))
                modules.append(BinaryModule(name: module.name, kind: module.kind, loraRank: module.rank,
                                            loraScale: module.loraScale, signA: signA, signB: signB,
                                            scales: scales, source: module.source))
            }
            let carried = self.carried.map { tensor in
                CarriedTensor(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: decoded[tensor.section]!,
                              role: tensor.role)
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

        /// `values`, when every one is finite (NaN and ±∞ scales are refused).
        private func finite(_ values: [Float], label: String) throws(LBAError) -> [Float] {
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                throw .table(path: path, context: label, problem: "value \(index) is \(values[index]) (scales must be finite)")
            }
            return values
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
        guard version.minor >= LBAFormat.minorVersion(for: layout) else {
            throw fail("table", "layout \(LBAError.quote(layoutName)) needs format version 1.\(LBAFormat.minorVersion(for: layout)), the file says \(version)")
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
        guard !moduleValues.isEmpty else { throw fail("table", "the module list is empty") }
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
            let dimensions = [("in", inFeatures), ("out", outFeatures), ("rank", rank), ("binary_rank", binaryRank)]
            for (member, value) in dimensions where value < 1 || value > LBAFormat.maximumDimension {
                throw fail(context, "\(member) = \(value) is outside 1…\(LBAFormat.maximumDimension)")
            }
            guard binaryRank <= rank * LBAFormat.maximumBinaryRankMultiple else {
                throw fail(context, "binary_rank = \(binaryRank) is above \(LBAFormat.maximumBinaryRankMultiple) × rank (\(rank))")
            }
            guard loraScale.isFinite, loraScale > 0 else {
                throw fail(context, "lora_scale = \(loraScale) must be finite and above 0")
            }
            var sourceObject = try ObjectReader(.object(try object.object("source")), context: context + " source", reader: self)
            let aTensor = try sourceObject.string("a")
            let bTensor = try sourceObject.string("b")
            let alphaTensor = try sourceObject.optionalString("alpha")
            let dtypeName = try sourceObject.string("dtype")
            try sourceObject.finish()
            var doraMagnitude: String?
            if hasRoles, let dora = try object.optionalObject("dora") {
                var doraObject = try ObjectReader(.object(dora), context: context + " dora", reader: self)
                doraMagnitude = try doraObject.string("magnitude")
                try doraObject.finish()
            }
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
                                  sections: references, doraMagnitude: doraMagnitude))
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
                guard case .integer(let dimension) = value, dimension >= 0, dimension <= Int64(LBAFormat.maximumDimension) else {
                    throw fail(context, "shape entries must be integers from 0 to \(LBAFormat.maximumDimension)")
                }
                shape.append(Int(dimension))
            }
            var role: CarriedRole?
            if hasRoles, let roleName = try object.optionalString("role") {
                guard let known = CarriedRole(rawValue: roleName) else {
                    throw fail(context, "unknown role \(LBAError.quote(roleName))")
                }
                role = known
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
            carried.append(Carried(name: name, dtype: dtype, shape: shape, section: section, role: role))
        }

        // DoRA: each magnitude named by a module is a carried tensor of role magnitude with one
        // value per output feature, and belongs to one module only.
        var magnitudeOwners: [String: String] = [:]
        for module in modules {
            guard let magnitude = module.doraMagnitude else { continue }
            let context = "module \(LBAError.quote(module.name)) dora"
            guard let tensor = carried.first(where: { $0.name == magnitude }) else {
                throw fail(context, "magnitude \(LBAError.quote(magnitude)) is not a carried tensor")
            }
            guard tensor.role == .magnitude else {
                throw fail(context, "magnitude \(LBAError.quote(magnitude)) does not have role \"magnitude\"")
            }
            let elements = LBALayoutMath.elementCount(tensor.shape)
            guard elements == module.outFeatures else {
                throw .shape(path: path, context: context,
                             problem: "magnitude \(LBAError.quote(magnitude)) has \(elements.map(String.init) ?? "too many") elements, out = \(module.outFeatures)")
            }
            if let other = magnitudeOwners.updateValue(module.name, forKey: magnitude) {
                throw fail(context, "magnitude \(LBAError.quote(magnitude)) is also used by module \(LBAError.quote(other))")
            }
        }

        for index in sections.indices where !claimed[index] {
            if case .unknown = sections[index].content { continue }
            throw fail(sections[index].label, "not referenced by its owner, \(ownerName(index))")
        }
        return Table(path: path, layout: layout, scaleDType: scaleDType, metadata: metadata, modules: modules,
                     carried: carried, sections: sections)
    }
}
