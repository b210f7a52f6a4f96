/// Reads and cross-checks the JSON table; turns decoded sections into the adapter.
struct TableReader {
    let path: String
    let version: LBAVersion
    /// Unknown members are refused unless the file is of a newer minor version than this reader.
    var strict: Bool { version.minor <= LBAFormat.minorVersion }

    /// Whether the file's version has the 1.1 members (`role`, `dora`).
    var hasRoles: Bool { version.minor >= 1 }

    func fail(_ context: String, _ problem: String) -> LBAError {
        .table(path: path, context: context, problem: problem)
    }

    /// A strict reader of the object `value`; unknown members are refused unless `strict` is off.
    func objectReader(_ value: JSONValue, _ context: String) throws(LBAError) -> JSONObjectReader<LBAError> {
        try JSONObjectReader(value, context: context, refusesUnknownMembers: strict) { [path] context, problem in
            .table(path: path, context: context, problem: problem.description)
        }
    }

    func read(_ json: JSONValue) throws(LBAError) -> Table {
        var root = try objectReader(json, "table")
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
        for (key, value) in try root.object("metadata").members {
            guard let text = value.stringValue else {
                throw fail("table", "metadata \(LBAError.quote(key)) is \(MessageText.article(value.typeName)), expected a string")
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
            var object = try objectReader(value, context)
            let content = LBASectionContent(name: try object.string("content"))
            var owner = -1
            switch content {
            case .carried: owner = try object.nonNegativeInteger("tensor")
            case .unknown:
                guard !strict else { throw fail(context, "unknown content \(LBAError.quote(content.name))") }
            default: owner = try object.nonNegativeInteger("module")
            }
            let offset = try object.nonNegativeInteger("offset")
            let length = try object.nonNegativeInteger("length")
            let decodedLength = try object.nonNegativeInteger("decoded_length")
            let encodingName = try object.string("encoding")
            let crc = try object.nonNegativeInteger("crc32c")
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
            var object = try objectReader(value, "module \(index)")
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
            let inFeatures = try object.nonNegativeInteger("in")
            let outFeatures = try object.nonNegativeInteger("out")
            let rank = try object.nonNegativeInteger("rank")
            let binaryRank = try object.nonNegativeInteger("binary_rank")
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
            var sourceObject = try object.object("source", context: context + " source")
            let aTensor = try sourceObject.string("a")
            let bTensor = try sourceObject.string("b")
            let alphaTensor = try sourceObject.optionalString("alpha")
            let dtypeName = try sourceObject.string("dtype")
            try sourceObject.finish()
            var doraMagnitude: String?
            if hasRoles, var doraObject = try object.optionalObject("dora", context: context + " dora") {
                doraMagnitude = try doraObject.string("magnitude")
                try doraObject.finish()
            }
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw fail(context, "unknown source dtype \(LBAError.quote(dtypeName))")
            }
            var referenceObject = try object.object("sections", context: context + " sections")
            var references: [LBASectionContent: Int] = [:]
            for content in LBASectionContent.moduleContents {
                let reference = content == .scaleA ? try referenceObject.optionalNonNegativeInteger(content.name)
                                                   : try referenceObject.nonNegativeInteger(content.name)
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
            var object = try objectReader(value, "carried tensor \(index)")
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
            let section = try object.nonNegativeInteger("section")
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
