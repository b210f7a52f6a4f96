/// Finds the LoRA factors of a safetensors file, pairs them, checks their shapes and resolves
/// every module's scale; used by `AdapterSource.open`.
struct LayoutReader {
    let file: SafeTensorsFile
    let configPath: String?
    /// The adapter to read from a file whose keys carry adapter names (`lora_A.<name>.weight`).
    let adapterName: String?
    /// Assumptions made while reading, for `AdapterSource.notes`.
    var notes: [String] = []
    /// New names for carried tensors (a named adapter's tensors, named as `save_pretrained` does).
    var carriedNames: [String: String] = [:]

    init(file: SafeTensorsFile, configPath: String?, adapterName: String? = nil) {
        self.file = file
        self.configPath = configPath
        self.adapterName = adapterName
    }

    var path: String { file.path }

    enum Role { case a, b }

    /// A tensor-name suffix that marks a LoRA factor.
    struct NamePattern {
        var suffix: String
        var layout: AdapterLayout
        var role: Role
        var embedding: Bool
        /// The suffix of the partner factor.
        var partner: String
    }

    /// Each layout's factor suffixes (from its file in `Layouts/`), in the order they are tried.
    static let layoutPatterns: [[NamePattern]] = [
        PEFTLayout.namePatterns, MLXLayout.namePatterns, KohyaLayout.namePatterns, DiffusersLayout.namePatterns,
    ]
    static let namePatterns: [NamePattern] = layoutPatterns.flatMap { $0 }

    /// The factor forms named when a file has none: the first pair of each layout
    /// (`…lora_A.weight/…lora_B.weight, …lora_a/…lora_b, …`).
    static let expectedFactors: String = {
        let pairs = layoutPatterns.map { "…\($0[0].suffix.dropFirst())/…\($0[0].partner.dropFirst())" }
        return pairs.dropLast().joined(separator: ", ") + " or " + pairs.last!
    }()

    /// The module name and pattern of a factor tensor (with its PEFT adapter name, when the key
    /// carries one), or `nil` for any other tensor.
    static func classify(_ name: String) -> (module: String, pattern: NamePattern, adapter: String?)? {
        for pattern in namePatterns where name.hasSuffix(pattern.suffix) && name.count > pattern.suffix.count {
            return (String(name.dropLast(pattern.suffix.count)), pattern, nil)
        }
        return PEFTAdapterNames.classify(name)
    }

    private struct Slot {
        var module: String
        var embedding: Bool
        var a: (SafeTensorInfo, NamePattern)?
        var b: (SafeTensorInfo, NamePattern)?
    }

    private struct SlotKey: Hashable {
        var module: String
        var embedding: Bool
    }

    /// The layout, the module specs sorted by name, and the names of every tensor they use (or
    /// that belong to another adapter of the file and are left out).
    mutating func read() throws(AdapterError) -> (AdapterLayout, [ModuleSpec], Set<String>) {
        var named: [(SafeTensorInfo, String, NamePattern, String?)] = []
        var others: [String] = []
        for info in file.tensors {
            if let (module, pattern, adapter) = Self.classify(info.name) {
                named.append((info, module, pattern, adapter))
            } else {
                others.append(info.name)
            }
        }
        if let (algorithm, tensor) = AdapterAlgorithms.detect(others) {
            throw .notLoRA(path: path, tensor: tensor, algorithm: algorithm)
        }
        guard !named.isEmpty else { throw .noLoRATensors(path: path, tensorCount: file.tensors.count) }
        var used = Set<String>()
        let (chosen, skipped) = try chooseAdapter(named, others: others)
        used.formUnion(skipped)
        var found = chosen

        // diffusers files use PEFT's factor names under a pipeline component prefix.
        let peftModules = found.filter { $0.2.layout == .peft }.map(\.1)
        if !peftModules.isEmpty,
           found.contains(where: { $0.2.layout == .diffusers })
            || DiffusersLayout.recognises(metadata: file.metadata, modules: peftModules) {
            found = found.map { entry in
                var pattern = entry.2
                if pattern.layout == .peft { pattern.layout = .diffusers }
                return (entry.0, entry.1, pattern)
            }
        }

        // One layout per file: the most common one wins and any other is an error.
        var counts: [AdapterLayout: Int] = [:]
        for (_, _, pattern) in found { counts[pattern.layout, default: 0] += 1 }
        let present = AdapterLayout.allCases.filter { counts[$0] != nil }
        let layout = present.max { counts[$0]! < counts[$1]! }!
        if present.count > 1 {
            let stray = found.first { $0.2.layout != layout }!
            throw .mixedLayouts(path: path, tensor: stray.0.name, layouts: present)
        }

        var slots: [SlotKey: Slot] = [:]
        for (info, module, pattern) in found {
            let key = SlotKey(module: module, embedding: pattern.embedding)
            var slot = slots[key] ?? Slot(module: module, embedding: pattern.embedding)
            switch pattern.role {
            case .a:
                if let other = slot.a { throw .conflictingTensors(path: path, tensor: info.name, other: other.0.name) }
                slot.a = (info, pattern)
            case .b:
                if let other = slot.b { throw .conflictingTensors(path: path, tensor: info.name, other: other.0.name) }
                slot.b = (info, pattern)
            }
            slots[key] = slot
        }

        let ordered = slots.values.sorted { ($0.module, $0.embedding ? 1 : 0) < ($1.module, $1.embedding ? 1 : 0) }
        var specs: [ModuleSpec] = []
        specs.reserveCapacity(ordered.count)
        var scaleSource = ScaleSource(layout: layout)
        var embeddingGuesses = 0
        for slot in ordered {
            guard let (a, aPattern) = slot.a else {
                let (b, bPattern) = slot.b!
                throw .unpaired(path: path, tensor: b.name, missing: slot.module + bPattern.partner)
            }
            guard let (b, _) = slot.b else {
                throw .unpaired(path: path, tensor: a.name, missing: slot.module + aPattern.partner)
            }
            if let previous = specs.last, previous.name == slot.module {
                throw .conflictingTensors(path: path, tensor: a.name, other: previous.aTensor.name)
            }
            var spec = try shapeSpec(module: slot.module, a: a, b: b, layout: layout, embedding: slot.embedding)
            if aPattern.layout == .diffusers {
                spec.name = DiffusersLayout.modulePath(stem: slot.module, suffix: aPattern.suffix)
            }
            if layout == .mlx, MLXLayout.embeddingNames.contains(Self.lastComponent(slot.module)) {
                spec.kind = .embedding
                embeddingGuesses += 1
            }
            spec.scale = try scale(for: &spec, stem: slot.module, source: &scaleSource)
            used.insert(a.name)
            used.insert(b.name)
            if let alpha = spec.alphaTensor { used.insert(alpha.name) }
            specs.append(spec)
        }
        // Renamed older diffusers keys may meet another module's name.
        specs.sort { ($0.name, $0.kind == .embedding ? 1 : 0) < ($1.name, $1.kind == .embedding ? 1 : 0) }
        for (previous, next) in zip(specs, specs.dropFirst()) where previous.name == next.name {
            throw .conflictingTensors(path: path, tensor: next.aTensor.name, other: previous.aTensor.name)
        }
        notes.append(contentsOf: scaleSource.notes(moduleCount: specs.count))
        if embeddingGuesses > 0 {
            notes.append("\(embeddingGuesses) MLX module(s) named like embedding layers (\(MLXLayout.embeddingNames.sorted().joined(separator: ", "))) are treated as embeddings")
        }
        return (layout, specs, used)
    }

    private static func lastComponent(_ module: String) -> String {
        module.split(separator: ".").last.map(String.init) ?? module
    }

    // MARK: - Shapes

    private func checkDType(_ info: SafeTensorInfo) throws(AdapterError) {
        guard info.dtype.isConvertibleFloat else {
            throw .unsupportedDType(path: path, tensor: info.name, dtype: info.dtype)
        }
    }

    /// Checks dimensions, ranks and dtypes and fills in everything but the scale.
    private func shapeSpec(module: String, a: SafeTensorInfo, b: SafeTensorInfo, layout: AdapterLayout,
                           embedding: Bool) throws(AdapterError) -> ModuleSpec {
        try checkDType(a)
        try checkDType(b)
        let dtype = b.dtype.bitWidth > a.dtype.bitWidth ? b.dtype : a.dtype
        let rank: Int
        let inFeatures: Int
        let outFeatures: Int
        var kind = ModuleKind.linear
        let transposed = layout == .mlx

        if transposed {
            // MLX-LM: lora_a [in, r], lora_b [r, out].
            guard a.shape.count == 2 else {
                throw .wrongShape(path: path, tensor: a.name, shape: a.shape,
                                  expected: a.shape.count == 3 ? "[in, r]; a 3-D lora_a comes from an MoE SwitchLinear, which is not supported"
                                                               : "[in, r] (2 dimensions)")
            }
            guard b.shape.count == 2 else {
                throw .wrongShape(path: path, tensor: b.name, shape: b.shape, expected: "[r, out] (2 dimensions)")
            }
            rank = a.shape[1]
            guard rank > 0 else { throw .zeroRank(path: path, tensor: a.name, shape: a.shape) }
            guard b.shape[0] > 0 else { throw .zeroRank(path: path, tensor: b.name, shape: b.shape) }
            guard b.shape[0] == rank else {
                throw .rankMismatch(path: path, tensor: b.name, rank: b.shape[0], other: a.name, otherRank: rank)
            }
            inFeatures = a.shape[0]
            outFeatures = b.shape[1]
        } else {
            // PEFT and kohya: A [r, in] (conv: [r, in, k…]), B [out, r] (conv: [out, r, 1…]).
            if embedding {
                guard a.shape.count == 2 else {
                    throw .wrongShape(path: path, tensor: a.name, shape: a.shape, expected: "[r, num_embeddings] (2 dimensions)")
                }
                guard b.shape.count == 2 else {
                    throw .wrongShape(path: path, tensor: b.name, shape: b.shape, expected: "[embedding_dim, r] (2 dimensions)")
                }
            } else {
                guard (2...5).contains(a.shape.count) else {
                    throw .wrongShape(path: path, tensor: a.name, shape: a.shape,
                                      expected: "[r, in] for a linear layer or [r, in, k…] (3 to 5 dimensions) for a convolution")
                }
                guard b.shape.count == a.shape.count else {
                    let form = a.shape.count == 2 ? "[out, r]" : "[out, r" + String(repeating: ", 1", count: a.shape.count - 2) + "]"
                    throw .wrongShape(path: path, tensor: b.name, shape: b.shape,
                                      expected: "\(form) (\(a.shape.count) dimensions, like \"\(a.name)\")")
                }
            }
            rank = a.shape[0]
            guard rank > 0 else { throw .zeroRank(path: path, tensor: a.name, shape: a.shape) }
            guard b.shape[1] > 0 else { throw .zeroRank(path: path, tensor: b.name, shape: b.shape) }
            guard b.shape[1] == rank else {
                throw .rankMismatch(path: path, tensor: b.name, rank: b.shape[1], other: a.name, otherRank: rank)
            }
            if a.shape.count > 2 {
                guard b.shape.dropFirst(2).allSatisfy({ $0 == 1 }) else {
                    let form = "[out, r" + String(repeating: ", 1", count: a.shape.count - 2) + "]"
                    throw .wrongShape(path: path, tensor: b.name, shape: b.shape,
                                      expected: "\(form); the up-projection of a conv LoRA must be a 1×1 kernel")
                }
                kind = .conv(kernel: Array(a.shape.dropFirst(2)))
            } else if embedding {
                kind = .embedding
            }
            inFeatures = a.shape.dropFirst().reduce(1, *)
            outFeatures = b.shape[0]
        }
        guard inFeatures > 0 else {
            throw .wrongShape(path: path, tensor: a.name, shape: a.shape, expected: "a non-zero input size")
        }
        guard outFeatures > 0 else {
            throw .wrongShape(path: path, tensor: b.name, shape: b.shape, expected: "a non-zero output size")
        }
        return ModuleSpec(name: module, kind: kind, rank: rank, inFeatures: inFeatures, outFeatures: outFeatures,
                          scale: 1, aTensor: a, bTensor: b, alphaTensor: nil, dtype: dtype, transposed: transposed)
    }
}
