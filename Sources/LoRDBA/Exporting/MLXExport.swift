/// Writes a `.lba` back as an MLX-LM adapter: `adapters.safetensors` (`<path>.lora_a` `[in, k]`,
/// `<path>.lora_b` `[k, out]`) and an mlx-lm `adapter_config.json` with `lora_parameters.scale`
/// 1 (the scale is in the factors).
///
/// mlx-lm builds every adapted layer with one rank, so modules of smaller `k` are padded with
/// zero channels to the largest `k` (ΔW unchanged). Module paths lose PEFT's `base_model.model.`
/// prefix (mlx-lm paths start at the model, e.g. `model.layers.0.self_attn.q_proj`). DoRA
/// magnitudes become mlx-lm's `<path>.m` with `fine_tune_type` `dora` when every module is DoRA.
///
/// mlx-lm adapts the *last* `num_layers` blocks (and refuses adapter weights of blocks it did
/// not adapt), so `num_layers` must reach down to the first adapted block: with the base
/// model's `config.json` (`--base-config`) it is `num_hidden_layers − first adapted layer`;
/// without it `-1`, mlx-lm's "every block" (blocks without weights in the file keep mlx-lm's
/// zero-initialized `lora_b`, so their ΔW is zero).
enum MLXExport {
    static let weightsName = MLXLayout.weightsName
    static let configName = MLXLayout.configName

    static func files(_ adapter: BinaryAdapter, modules: [DequantizedModule], dtype: ExportDType,
                      baseConfigPath: String? = nil, path: String) throws(ExportError) -> ExportFiles {
        let rank = modules.map(\.rank).max() ?? 1
        var notes: [String] = []
        if modules.contains(where: { $0.rank != rank }) {
            notes.append("mlx-lm uses one rank for every layer: modules with fewer sign channels padded with zeros to k = \(rank)")
        }
        for module in modules where module.kind != .linear {
            throw .unsupported(path: path, module: module.name, problem: "mlx-lm LoRA adapts linear layers only, this is \(module.kind.name)")
        }
        let allDoRA = !modules.isEmpty && modules.allSatisfy { $0.doraMagnitude != nil }
        var tensors: [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])] = []
        for original in modules {
            let module = original.padded(toRank: rank)
            let base = mlxPath(module)
            tensors.append((base + MLXLayout.aSuffix, dtype.tensorDType, [module.inFeatures, rank],
                            try ExportSupport.encode(module.aTransposed, as: dtype, path: path, module: module.name)))
            tensors.append((base + MLXLayout.bSuffix, dtype.tensorDType, [rank, module.outFeatures],
                            try ExportSupport.encode(module.bTransposed, as: dtype, path: path, module: module.name)))
        }
        var carried = 0
        for tensor in adapter.carried {
            if tensor.role == .magnitude, allDoRA,
               let owner = modules.first(where: { $0.doraMagnitude == tensor.name }) {
                tensors.append((mlxPath(owner) + MLXLayout.magnitudeSuffix, tensor.dtype, [owner.outFeatures], tensor.bytes))
                carried += 1
            } else {
                notes.append("carried tensor \(tensor.name) (\(tensor.role?.rawValue ?? "unknown role")) has no place in an mlx-lm LoRA adapter; left out")
            }
        }
        let weights = SafeTensorsWriter.serialize(tensors, metadata: ["format": "mlx"])
        let layers = Set(modules.compactMap { layerIndex(of: $0.name) })
        let first = layers.min() ?? 0, last = layers.max() ?? 0
        var numLayers = -1
        if let baseConfigPath {
            let base = try GGUFExport.BaseConfig(path: baseConfigPath)
            guard let total = base.layers else {
                throw .baseConfig(path: baseConfigPath, problem: "num_hidden_layers is missing (mlx-lm's num_layers is counted from the last block)")
            }
            guard total > last else {
                throw .baseConfig(path: baseConfigPath, problem: "num_hidden_layers = \(total), but the adapter has layer \(last)")
            }
            numLayers = total - first
        }
        let keys = Set(modules.map { keyPath(of: ExportSupport.strippingPEFTPrefix($0.name)) }).sorted()
        let config: JSONValue = .object([
            ("fine_tune_type", .string(allDoRA ? "dora" : "lora")),
            ("num_layers", .integer(Int64(numLayers))),
            (MLXLayout.ConfigKey.loraParameters, .object([
                ("rank", .integer(Int64(rank))),
                (MLXLayout.ConfigKey.scale, .double(1)),
                ("dropout", .double(0)),
                ("keys", .array(keys.map { .string($0) })),
            ])),
        ])
        return ExportFiles(files: [(weightsName, weights), (configName, ExportSupport.jsonBytes(config))],
                           notes: notes, carried: carried)
    }

    /// The mlx-lm module path: the source's when the source was MLX, else without PEFT's prefix.
    static func mlxPath(_ module: DequantizedModule) -> String {
        ExportSupport.strippingPEFTPrefix(module.name)
    }

    /// The layer number in `….layers.N.…`, if any.
    static func layerIndex(of name: String) -> Int? {
        let parts = name.split(separator: ".")
        guard let i = parts.firstIndex(of: "layers"), i + 1 < parts.count else { return nil }
        return Int(parts[i + 1])
    }

    /// The part of the path after the layer number (`self_attn.q_proj`), which mlx-lm's `keys` names.
    static func keyPath(of name: String) -> String {
        let parts = name.split(separator: ".")
        guard let i = parts.firstIndex(of: "layers"), i + 2 < parts.count else { return name }
        return parts[(i + 2)...].joined(separator: ".")
    }
}
