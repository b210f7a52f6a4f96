/// The `.lba` table the writer stores: the JSON object describing modules, carried tensors and
/// sections (`formats/lba.md`), with members in a fixed order so the bytes never vary.
extension LBAWriter {
    /// The table for `adapter` whose sections sit at `offsets`.
    static func table(_ adapter: BinaryAdapter, sections: [Section], offsets: [Int],
                              moduleSections: [[LBASectionContent: Int]], carriedSections: [Int], minor: Int) -> JSONValue {
        typealias K = LBATableKey
        func int(_ value: Int) -> JSONValue { .integer(Int64(value)) }
        var modules: [JSONValue] = []
        for (module, references) in zip(adapter.modules, moduleSections) {
            var members: [(String, JSONValue)] = [(K.Module.name, .string(module.name)), (K.Module.kind, .string(module.kind.name))]
            if case .conv(let kernel) = module.kind { members.append((K.Module.kernel, .array(kernel.map(int)))) }
            members += [
                (K.Module.inFeatures, int(module.inFeatures)),
                (K.Module.outFeatures, int(module.outFeatures)),
                (K.Module.rank, int(module.loraRank)),
                (K.Module.binaryRank, int(module.binaryRank)),
                (K.Module.loraScale, .double(module.loraScale)),
            ]
            var source: [(String, JSONValue)] = [(K.Source.a, .string(module.source.aTensor)), (K.Source.b, .string(module.source.bTensor))]
            if let alpha = module.source.alphaTensor { source.append((K.Source.alpha, .string(alpha))) }
            source.append((K.Source.dtype, .string(module.source.dtype.rawValue)))
            members.append((K.Module.source, .object(source)))
            if let magnitude = LBAWriter.doraMagnitude(of: module, in: adapter) {
                members.append((K.Module.dora, .object([(K.Dora.magnitude, .string(magnitude))])))
            }
            let refs = LBASectionContent.moduleContents.compactMap { content in
                references[content].map { (content.name, int($0)) }
            }
            members.append((K.Module.sections, .object(refs)))
            modules.append(.object(members))
        }
        let carried: [JSONValue] = zip(adapter.carried, carriedSections).map { tensor, section in
            var members: [(String, JSONValue)] = [
                (K.Carried.name, .string(tensor.name)),
                (K.Carried.dtype, .string(tensor.dtype.rawValue)),
                (K.Carried.shape, .array(tensor.shape.map(int))),
            ]
            if let role = tensor.role { members.append((K.Carried.role, .string(role.rawValue))) }
            members.append((K.Carried.section, int(section)))
            return .object(members)
        }
        let sectionList: [JSONValue] = zip(sections, offsets).map { section, offset in
            .object([
                (K.Section.content, .string(section.content.name)),
                (section.content == .carried ? K.Section.tensor : K.Section.module, int(section.owner)),
                (K.Section.offset, int(offset)),
                (K.Section.length, int(section.stored.count)),
                (K.Section.decodedLength, int(section.decodedLength)),
                (K.Section.encoding, .string(section.encoding.rawValue)),
                (K.Section.crc32c, .integer(Int64(section.crc))),
            ])
        }
        // Metadata sorted by the UTF-8 bytes of the keys, so the order never depends on hashing.
        let metadata = adapter.metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return .object([
            (K.format, .string(LBAFormat.formatName)),
            (K.version, .array([int(LBAFormat.majorVersion), int(minor)])),
            (K.layout, .string(adapter.layout.rawValue)),
            (K.scaleDType, .string(adapter.scaleDType.rawValue)),
            (K.metadata, .object(metadata.map { ($0.key, .string($0.value)) })),
            (K.modules, .array(modules)),
            (K.carried, .array(carried)),
            (K.sections, .array(sectionList)),
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
