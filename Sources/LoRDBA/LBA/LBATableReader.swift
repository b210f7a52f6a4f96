/// Reads and cross-checks the JSON table; turns decoded sections into the adapter.
struct TableReader {
    typealias K = LBATableKey
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

    /// The table's members, each checked; sections first, so that modules and tensors can be
    /// checked against them, then modules, carried tensors, DoRA magnitudes, unclaimed sections.
    func read(_ json: JSONValue) throws(LBAError) -> Table {
        let header = try readHeader(json)
        var claims = SectionClaims(sections: [], owners: [], claimed: [], moduleValues: header.moduleValues,
                                   carriedValues: header.carriedValues)
        for (index, value) in header.sectionValues.enumerated() {
            let (section, owner) = try readSection(value, index: index)
            claims.sections.append(section)
            claims.owners.append(owner)
        }
        claims.claimed = [Bool](repeating: false, count: claims.sections.count)
        var modules: [Module] = []
        var moduleNames = Set<String>()
        for (index, value) in header.moduleValues.enumerated() {
            modules.append(try readModule(value, index: index, scaleDType: header.scaleDType, claims: &claims,
                                          names: &moduleNames))
        }
        var carried: [Carried] = []
        var carriedNames = Set<String>()
        for (index, value) in header.carriedValues.enumerated() {
            carried.append(try readCarried(value, index: index, claims: &claims, names: &carriedNames))
        }
        try checkDoraMagnitudes(modules: modules, carried: carried)
        for index in claims.sections.indices where !claims.claimed[index] {
            if case .unknown = claims.sections[index].content { continue }
            throw fail(claims.sections[index].label, "not referenced by its owner, \(claims.ownerName(index))")
        }
        return Table(path: path, layout: header.layout, scaleDType: header.scaleDType, metadata: header.metadata,
                     modules: modules, carried: carried, sections: claims.sections)
    }

    /// The top-level members: format, version, layout, scale dtype, metadata, and the three lists.
    private struct Header {
        var layout: AdapterLayout
        var scaleDType: ScaleDType
        var metadata: [String: String]
        var moduleValues: [JSONValue]
        var carriedValues: [JSONValue]
        var sectionValues: [JSONValue]
    }

    private func readHeader(_ json: JSONValue) throws(LBAError) -> Header {
        var root = try objectReader(json, "table")
        let format = try root.string(K.format)
        guard format == LBAFormat.formatName else { throw fail("table", "format is \(LBAError.quote(format)), expected \"lba\"") }
        let versionArray = try root.array(K.version)
        guard versionArray.count == 2, versionArray[0] == .integer(Int64(version.major)),
              versionArray[1] == .integer(Int64(version.minor)) else {
            throw fail("table", "version \(JSONValue.array(versionArray).serialized()) does not match the preamble's \(version)")
        }
        let layoutName = try root.string(K.layout)
        guard let layout = AdapterLayout(rawValue: layoutName) else {
            throw fail("table", "unknown layout \(LBAError.quote(layoutName))")
        }
        guard version.minor >= LBAFormat.minorVersion(for: layout) else {
            throw fail("table", "layout \(LBAError.quote(layoutName)) needs format version 1.\(LBAFormat.minorVersion(for: layout)), the file says \(version)")
        }
        let scaleName = try root.string(K.scaleDType)
        guard let scaleDType = ScaleDType(rawValue: scaleName) else {
            throw fail("table", "unknown scale_dtype \(LBAError.quote(scaleName))")
        }
        var metadata: [String: String] = [:]
        for (key, value) in try root.object(K.metadata).members {
            guard let text = value.stringValue else {
                throw fail("table", "metadata \(LBAError.quote(key)) is \(MessageText.article(value.typeName)), expected a string")
            }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw fail("table", "metadata key \(LBAError.quote(key)) appears twice")
            }
        }
        let moduleValues = try root.array(K.modules)
        guard !moduleValues.isEmpty else { throw fail("table", "the module list is empty") }
        let carriedValues = try root.array(K.carried)
        let sectionValues = try root.array(K.sections)
        try root.finish()
        return Header(layout: layout, scaleDType: scaleDType, metadata: metadata, moduleValues: moduleValues,
                      carriedValues: carriedValues, sectionValues: sectionValues)
    }

    /// One section entry and the index of its owner (module or carried tensor; −1 for an
    /// unknown content a newer minor version may add).
    private func readSection(_ value: JSONValue, index: Int) throws(LBAError) -> (LBASectionInfo, owner: Int) {
        let context = "section \(index)"
        var object = try objectReader(value, context)
        let content = LBASectionContent(name: try object.string(K.Section.content))
        var owner = -1
        switch content {
        case .carried: owner = try object.nonNegativeInteger(K.Section.tensor)
        case .unknown:
            guard !strict else { throw fail(context, "unknown content \(LBAError.quote(content.name))") }
        default: owner = try object.nonNegativeInteger(K.Section.module)
        }
        let offset = try object.nonNegativeInteger(K.Section.offset)
        let length = try object.nonNegativeInteger(K.Section.length)
        let decodedLength = try object.nonNegativeInteger(K.Section.decodedLength)
        let encodingName = try object.string(K.Section.encoding)
        let crc = try object.nonNegativeInteger(K.Section.crc32c)
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
        let section = LBASectionInfo(index: index, content: content, module: nil, tensor: nil, offset: offset,
                                     storedLength: length, decodedLength: decodedLength,
                                     encoding: encoding, crc32c: UInt32(crc))
        return (section, owner)
    }

    /// The sections with their owners, and which of them a module or tensor has referred to:
    /// each must be referred to exactly once, by its own owner, as the content it holds.
    struct SectionClaims {
        var sections: [LBASectionInfo]
        var owners: [Int]
        var claimed: [Bool]
        let moduleValues: [JSONValue]
        let carriedValues: [JSONValue]

        /// "module 3 \"name\"" or "carried tensor 0 \"name\"", for messages.
        func ownerName(_ index: Int) -> String {
            let isTensor = sections[index].content == .carried
            let list = isTensor ? carriedValues : moduleValues
            let owner = owners[index]
            let name = owner < list.count ? list[owner][K.Module.name]?.stringValue.map { " " + LBAError.quote($0) } : nil
            return "\(isTensor ? "carried tensor" : "module") \(owner)\(name ?? "")"
        }

        /// Marks section `index` as referred to by `owner` as `content`, or names the problem.
        mutating func claim(_ index: Int, content: LBASectionContent, owner: Int) -> String? {
            guard index < sections.count else {
                return "\(content.name) refers to section \(index), but there are \(sections.count)"
            }
            guard sections[index].content == content, owners[index] == owner else {
                return "\(content.name) refers to section \(index), which holds \(sections[index].content.name) of \(ownerName(index))"
            }
            guard !claimed[index] else { return "section \(index) is used twice" }
            claimed[index] = true
            return nil
        }
    }
}
