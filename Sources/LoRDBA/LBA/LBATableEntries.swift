/// The table's module and carried-tensor entries, each checked against the sections it claims.
extension TableReader {
    /// An entry's reader, its unique `name`, and the context messages name it by
    /// (`module "q_proj"`); `kind` is "module" or "carried tensor".
    private func namedEntry(_ value: JSONValue, kind: String, index: Int, names: inout Set<String>)
        throws(LBAError) -> (JSONObjectReader<LBAError>, name: String, context: String)
    {
        var object = try objectReader(value, "\(kind) \(index)")
        let name = try object.string(K.Module.name)
        let context = "\(kind) \(LBAError.quote(name))"
        object.context = context
        guard names.insert(name).inserted else { throw fail(context, "duplicate \(kind) name") }
        return (object, name, context)
    }

    /// One module entry: kind, dimensions within the spec's ranges, scale, source, DoRA
    /// magnitude, and its sections (claimed, with decoded sizes matching the shapes exactly).
    func readModule(_ value: JSONValue, index: Int, scaleDType: ScaleDType, claims: inout SectionClaims,
                    names: inout Set<String>) throws(LBAError) -> Module {
        var (object, name, context) = try namedEntry(value, kind: "module", index: index, names: &names)
        let kind = try readKind(&object, context: context)
        let inFeatures = try object.nonNegativeInteger(K.Module.inFeatures)
        let outFeatures = try object.nonNegativeInteger(K.Module.outFeatures)
        let rank = try object.nonNegativeInteger(K.Module.rank)
        let binaryRank = try object.nonNegativeInteger(K.Module.binaryRank)
        let loraScale = try object.number(K.Module.loraScale)
        let dimensions = [(K.Module.inFeatures, inFeatures), (K.Module.outFeatures, outFeatures), (K.Module.rank, rank), (K.Module.binaryRank, binaryRank)]
        for (member, value) in dimensions where value < 1 || value > LBAFormat.maximumDimension {
            throw fail(context, "\(member) = \(value) is outside 1…\(LBAFormat.maximumDimension)")
        }
        guard binaryRank <= rank * LBAFormat.maximumBinaryRankMultiple else {
            throw fail(context, "binary_rank = \(binaryRank) is above \(LBAFormat.maximumBinaryRankMultiple) × rank (\(rank))")
        }
        guard loraScale.isFinite, loraScale > 0 else {
            throw fail(context, "lora_scale = \(loraScale) must be finite and above 0")
        }
        var sourceObject = try object.object(K.Module.source, context: context + " source")
        let aTensor = try sourceObject.string(K.Source.a)
        let bTensor = try sourceObject.string(K.Source.b)
        let alphaTensor = try sourceObject.optionalString(K.Source.alpha)
        let dtypeName = try sourceObject.string(K.Source.dtype)
        try sourceObject.finish()
        var doraMagnitude: String?
        if hasRoles, var doraObject = try object.optionalObject(K.Module.dora, context: context + " dora") {
            doraMagnitude = try doraObject.string(K.Dora.magnitude)
            try doraObject.finish()
        }
        guard let dtype = TensorDType(rawValue: dtypeName) else {
            throw fail(context, "unknown source dtype \(LBAError.quote(dtypeName))")
        }
        var referenceObject = try object.object(K.Module.sections, context: context + " sections")
        var references: [LBASectionContent: Int] = [:]
        for content in LBASectionContent.moduleContents {
            let reference = content == .scaleA ? try referenceObject.optionalNonNegativeInteger(content.name)
                                               : try referenceObject.nonNegativeInteger(content.name)
            if let reference {
                if let problem = claims.claim(reference, content: content, owner: index) { throw fail(context, problem) }
                references[content] = reference
                claims.sections[reference].module = name
            }
        }
        try referenceObject.finish()
        try object.finish()
        if case .conv(let kernel) = kind, let problem = LBALayoutMath.kernelProblem(kernel, inFeatures: inFeatures) {
            throw .shape(path: path, context: context, problem: problem)
        }
        // Decoded sizes must match the shapes exactly.
        for content in LBASectionContent.moduleContents {
            guard let reference = references[content] else { continue }
            let expected = LBALayoutMath.sectionBytes(content, inFeatures: inFeatures, outFeatures: outFeatures,
                                                      binaryRank: binaryRank, scaleDType: scaleDType)
            let actual = claims.sections[reference].decodedLength
            guard let expected, expected == actual else {
                throw .shape(path: path, context: claims.sections[reference].label,
                             problem: "holds \(actual) bytes, but in = \(inFeatures), out = \(outFeatures), binary_rank = \(binaryRank) need \(expected.map(String.init) ?? "more than can be addressed")")
            }
        }
        return Module(name: name, kind: kind, inFeatures: inFeatures, outFeatures: outFeatures,
                      rank: rank, binaryRank: binaryRank, loraScale: loraScale,
                      source: LoRAModule.Source(aTensor: aTensor, bTensor: bTensor, alphaTensor: alphaTensor, dtype: dtype),
                      sections: references, doraMagnitude: doraMagnitude)
    }

    /// A module's `kind` (and a conv module's `kernel`).
    func readKind(_ object: inout JSONObjectReader<LBAError>, context: String) throws(LBAError) -> ModuleKind {
        let kindName = try object.string(K.Module.kind)
        switch kindName {
        case "linear": return .linear
        case "embedding": return .embedding
        case "conv":
            var kernel: [Int] = []
            for value in try object.array(K.Module.kernel) {
                guard case .integer(let k) = value, k >= 1, k <= Int64(Int32.max) else {
                    throw fail(context, "kernel entries must be integers from 1 to \(Int32.max)")
                }
                kernel.append(Int(k))
            }
            return .conv(kernel: kernel)
        default: throw fail(context, "unknown kind \(LBAError.quote(kindName))")
        }
    }

    /// One carried tensor entry: dtype, shape, role, and its section (claimed, with a decoded
    /// size matching dtype × shape exactly).
    func readCarried(_ value: JSONValue, index: Int, claims: inout SectionClaims,
                     names: inout Set<String>) throws(LBAError) -> Carried {
        var (object, name, context) = try namedEntry(value, kind: "carried tensor", index: index, names: &names)
        let dtypeName = try object.string(K.Carried.dtype)
        guard let dtype = TensorDType(rawValue: dtypeName) else {
            throw fail(context, "unknown dtype \(LBAError.quote(dtypeName))")
        }
        var shape: [Int] = []
        for value in try object.array(K.Carried.shape) {
            guard case .integer(let dimension) = value, dimension >= 0, dimension <= Int64(LBAFormat.maximumDimension) else {
                throw fail(context, "shape entries must be integers from 0 to \(LBAFormat.maximumDimension)")
            }
            shape.append(Int(dimension))
        }
        var role: CarriedRole?
        if hasRoles, let roleName = try object.optionalString(K.Carried.role) {
            guard let known = CarriedRole(rawValue: roleName) else {
                throw fail(context, "unknown role \(LBAError.quote(roleName))")
            }
            role = known
        }
        let section = try object.nonNegativeInteger(K.Carried.section)
        try object.finish()
        if let problem = claims.claim(section, content: .carried, owner: index) { throw fail(context, problem) }
        claims.sections[section].tensor = name
        let actual = claims.sections[section].decodedLength
        guard let expected = LBALayoutMath.tensorBytes(dtype: dtype, shape: shape), expected == actual else {
            throw .shape(path: path, context: claims.sections[section].label,
                         problem: "holds \(actual) bytes, but \(dtypeName) shape \(shape) needs \(LBALayoutMath.tensorBytes(dtype: dtype, shape: shape).map(String.init) ?? "more than can be addressed")")
        }
        return Carried(name: name, dtype: dtype, shape: shape, section: section, role: role)
    }

    /// DoRA: each magnitude named by a module is a carried tensor of role magnitude with one
    /// value per output feature, and belongs to one module only.
    func checkDoraMagnitudes(modules: [Module], carried: [Carried]) throws(LBAError) {
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
    }
}
