/// The `.lba` table the writer stores: the JSON object describing modules, carried tensors and
/// sections (`formats/lba.md`), with members in a fixed order so the bytes never vary.
extension LBAWriter {
    /// The table for `adapter` whose sections sit at `offsets`.
    static func table(_ adapter: BinaryAdapter, sections: [Section], offsets: [Int],
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
}
