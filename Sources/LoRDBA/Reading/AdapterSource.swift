/// One LoRA module found in an adapter file: where its factors are, their shapes after
/// normalisation and its effective scale. Nothing is decoded yet.
public struct ModuleSpec: Sendable, Equatable {
    /// Module path as the file names it, e.g. `base_model.model.model.layers.0.self_attn.q_proj`.
    public var name: String
    public var kind: ModuleKind
    /// The LoRA rank `r`.
    public var rank: Int
    /// Columns of the normalised `A` (for conv, `in·∏kernel`; for embeddings, the vocabulary size).
    public var inFeatures: Int
    /// Rows of the normalised `B`.
    public var outFeatures: Int
    /// The effective scale `s` in `ΔW = s·B·A`.
    public var scale: Double
    /// The tensor that becomes `A` (`lora_A`, `lora_embedding_A`, `lora_a`, `lora_down`).
    public var aTensor: SafeTensorInfo
    /// The tensor that becomes `B` (`lora_B`, `lora_embedding_B`, `lora_b`, `lora_up`).
    public var bTensor: SafeTensorInfo
    /// kohya's scalar `alpha`, when the file has one.
    public var alphaTensor: SafeTensorInfo?
    /// The stored dtype of the factors (the wider one if A and B differ).
    public var dtype: TensorDType
    /// Whether the file stores the factors transposed, `A` as `[in, r]` and `B` as `[r, out]` (MLX-LM).
    public var transposed: Bool

    public init(name: String, kind: ModuleKind, rank: Int, inFeatures: Int, outFeatures: Int, scale: Double,
                aTensor: SafeTensorInfo, bTensor: SafeTensorInfo, alphaTensor: SafeTensorInfo? = nil,
                dtype: TensorDType, transposed: Bool = false) {
        self.name = name
        self.kind = kind
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.scale = scale
        self.aTensor = aTensor
        self.bTensor = bTensor
        self.alphaTensor = alphaTensor
        self.dtype = dtype
        self.transposed = transposed
    }

    /// The provenance record a loaded `LoRAModule` carries.
    public var source: LoRAModule.Source {
        LoRAModule.Source(aTensor: aTensor.name, bTensor: bTensor.name, alphaTensor: alphaTensor?.name, dtype: dtype)
    }
}

/// An opened LoRA adapter: the validated weights file, its layout, every module's spec (with
/// shapes checked and scale resolved) and the tensors carried through unchanged.
///
/// Opening decodes nothing but kohya's scalar alphas; `load(_:)` decodes one module at a time
/// and releases its pages, so a converter can stream through a large adapter.
public struct AdapterSource: Sendable {
    /// The `.safetensors` file read.
    public let weightsPath: String
    /// The config file used or found (`nil` when there is none).
    public let configPath: String?
    public let layout: AdapterLayout
    /// The LoRA modules, sorted by name.
    public let modules: [ModuleSpec]
    /// Tensors that are not LoRA factors (empty with `dropExtra`), sorted by name.
    public let carried: [SafeTensorInfo]
    /// The safetensors `__metadata__` map.
    public let metadata: [String: String]
    /// Assumptions the reader made (defaults used, names interpreted), one sentence each.
    public let notes: [String]
    public let file: SafeTensorsFile

    /// Size of the weights file in bytes.
    public var inputBytes: Int { file.fileSize }

    /// The weights file names looked for, in order, when the input is a directory.
    public static let standardWeightsNames = [PEFTLayout.weightsName, MLXLayout.weightsName, DiffusersLayout.weightsName]
    /// The config looked for beside the weights file.
    public static let standardConfigName = PEFTLayout.configName

    /// Opens a PEFT, diffusers, MLX-LM or kohya adapter.
    /// - Parameters:
    ///   - input: a `.safetensors` file, or a directory holding `adapter_model.safetensors`,
    ///     `adapters.safetensors`, `pytorch_lora_weights.safetensors` or exactly one `*.safetensors`.
    ///     Pickled checkpoints are refused without being read.
    ///   - configPath: the `adapter_config.json` to use instead of the one beside the weights
    ///     (for diffusers files, instead of the `lora_adapter_metadata` configs).
    ///   - dropExtra: leave out every tensor that is not a LoRA factor.
    ///   - adapterName: which adapter to read when the keys carry adapter names
    ///     (`….lora_A.<name>.weight`); needed only when they name several.
    public static func open(_ input: String, configPath: String? = nil, dropExtra: Bool = false,
                            adapterName: String? = nil) throws(AdapterError) -> AdapterSource {
        let weightsPath = try locateWeights(input)
        if let evidence = PickleCheck.evidence(path: weightsPath) {
            throw .pickledCheckpoint(path: weightsPath, evidence: evidence)
        }
        var foundConfig: String? = nil
        if let configPath {
            guard FileSystem.kind(of: configPath) != nil else {
                throw .unreadableConfig(path: configPath, reason: "no such file or directory")
            }
            foundConfig = configPath
        } else {
            let beside = FileSystem.join(FileSystem.directory(of: weightsPath), standardConfigName)
            if FileSystem.kind(of: beside) == .regular { foundConfig = beside }
        }
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(path: weightsPath)
        } catch {
            throw .safetensors(error)
        }
        var reader = LayoutReader(file: file, configPath: foundConfig, adapterName: adapterName)
        let (layout, modules, used) = try reader.read()
        let renames = reader.carriedNames
        let carried: [SafeTensorInfo] = dropExtra ? [] : file.tensors.filter { !used.contains($0.name) }
            .map { (info: SafeTensorInfo) -> SafeTensorInfo in
                var renamed = info
                renamed.name = renames[info.name] ?? info.name
                return renamed
            }
            .sorted { $0.name < $1.name }
        // A `.lba` carries dimensions up to 2³¹ − 1 only: refuse here what it cannot hold (an
        // empty tensor may declare any dimension), rather than write a file its reader refuses.
        for tensor in carried {
            if tensor.shape.contains(where: { $0 > LBAFormat.maximumDimension }) {
                throw .wrongShape(path: weightsPath, tensor: tensor.name, shape: tensor.shape,
                                  expected: "dimensions of at most \(LBAFormat.maximumDimension), the largest a .lba carries")
            }
        }
        var notes = reader.notes
        let magnitudes = carried.filter { $0.name.hasSuffix(KohyaLayout.magnitudeSuffix) || $0.name.contains(CarriedRole.magnitudeSuffix) }
        if !magnitudes.isEmpty {
            notes.append("\(magnitudes.count) DoRA magnitude tensor(s) (kohya dora_scale / PEFT lora_magnitude_vector) carried unchanged")
        }
        return AdapterSource(weightsPath: weightsPath, configPath: foundConfig, layout: layout, modules: modules,
                             carried: carried, metadata: file.metadata, notes: notes, file: file)
    }

    private init(weightsPath: String, configPath: String?, layout: AdapterLayout, modules: [ModuleSpec],
                 carried: [SafeTensorInfo], metadata: [String: String], notes: [String], file: SafeTensorsFile) {
        self.weightsPath = weightsPath
        self.configPath = configPath
        self.layout = layout
        self.modules = modules
        self.carried = carried
        self.metadata = metadata
        self.notes = notes
        self.file = file
    }

    private static func locateWeights(_ input: String) throws(AdapterError) -> String {
        switch FileSystem.kind(of: input) {
        case nil:
            throw .missingInput(path: input)
        case .directory?:
            for name in standardWeightsNames {
                let candidate = FileSystem.join(input, name)
                if FileSystem.kind(of: candidate) == .regular { return candidate }
            }
            let candidates = FileSystem.entries(of: input).filter {
                $0.hasSuffix(".safetensors") && FileSystem.kind(of: FileSystem.join(input, $0)) == .regular
            }
            guard !candidates.isEmpty else {
                // A folder with a pickled checkpoint gets the pickle message, which says what to do.
                let pickles = PickleCheck.standardNames.map { FileSystem.join(input, $0) }
                    + FileSystem.entries(of: input).filter { PickleCheck.fileExtension($0).map(PickleCheck.extensions.contains) == true }
                        .map { FileSystem.join(input, $0) }
                for candidate in pickles where FileSystem.kind(of: candidate) == .regular {
                    if let evidence = PickleCheck.evidence(path: candidate) {
                        throw .pickledCheckpoint(path: candidate, evidence: evidence)
                    }
                }
                throw .noWeightsFile(directory: input)
            }
            guard candidates.count == 1 else { throw .ambiguousWeightsFile(directory: input, candidates: candidates) }
            return FileSystem.join(input, candidates[0])
        default:
            return input
        }
    }

    /// Decodes one module to `Float`, puts it in the `A [r,in]`, `B [out,r]` orientation, checks
    /// every value is finite, and drops the factors' pages from memory.
    public func load(_ spec: ModuleSpec) throws(AdapterError) -> LoRAModule {
        defer {
            file.release(spec.aTensor)
            file.release(spec.bTensor)
        }
        let aValues = try decodeFinite(spec.aTensor)
        let bValues = try decodeFinite(spec.bTensor)
        let a: Matrix
        let b: Matrix
        if spec.transposed {
            a = Matrix(rows: spec.inFeatures, cols: spec.rank, values: aValues).transposed()
            b = Matrix(rows: spec.rank, cols: spec.outFeatures, values: bValues).transposed()
        } else {
            a = Matrix(rows: spec.rank, cols: spec.inFeatures, values: aValues)
            b = Matrix(rows: spec.outFeatures, cols: spec.rank, values: bValues)
        }
        return LoRAModule(name: spec.name, kind: spec.kind, a: a, b: b, scale: spec.scale, source: spec.source)
    }

    private func decodeFinite(_ info: SafeTensorInfo) throws(AdapterError) -> [Float] {
        let values: [Float]
        do {
            values = try file.floats(info)
        } catch {
            throw .safetensors(error)
        }
        guard let bad = FiniteScan.firstNonFinite(values) else { return values }
        let position = Self.position(of: bad, in: info.shape)
        if info.dtype == .f64 {
            let stored = file.withBytes(info) { bytes in
                Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: bad * 8, as: UInt64.self)))
            }
            if stored.isFinite {
                throw .outOfFloatRange(path: file.path, tensor: info.name, position: position, value: stored)
            }
        }
        throw .nonFinite(path: file.path, tensor: info.name, position: position, value: values[bad])
    }

    /// The multi-index of flat element `index` in a row-major tensor of `shape`.
    static func position(of index: Int, in shape: [Int]) -> [Int] {
        var rest = index
        var position = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            position[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return position
    }

    /// A carried tensor's bytes as stored; its pages are released afterwards.
    public func loadCarried(_ info: SafeTensorInfo) -> CarriedTensor {
        defer { file.release(info) }
        return CarriedTensor(name: info.name, dtype: info.dtype, shape: info.shape, bytes: file.rawBytes(info))
    }

    /// Every module and carried tensor at once (convenient for small adapters and tests).
    public func loadAll() throws(AdapterError) -> LoRAAdapter {
        var loaded: [LoRAModule] = []
        loaded.reserveCapacity(modules.count)
        for spec in modules { loaded.append(try load(spec)) }
        return LoRAAdapter(layout: layout, modules: loaded, carried: carried.map(loadCarried),
                           metadata: metadata, inputBytes: inputBytes)
    }
}
