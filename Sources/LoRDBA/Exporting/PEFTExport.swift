/// Writes a `.lba` back as a Hugging Face PEFT adapter: `adapter_model.safetensors` and
/// `adapter_config.json`, loadable with `PeftModel.from_pretrained`.
///
/// Per module `lora_A = A'` (`[k, in]`, conv: `[k, C_in, k₁, …]`) and `lora_B = B'` (`[out, k]`,
/// conv: `[out, k, 1, …]`); the config sets `r = k` and `lora_alpha = k` (scaling exactly 1, no
/// rsLoRA), with `rank_pattern` / `alpha_pattern` for modules whose `k` differs. Tensor names are
/// the source's when the source was PEFT; carried tensors (DoRA magnitudes, `modules_to_save`
/// weights, biases) are written back byte for byte under their original names.
enum PEFTExport {
    static let weightsName = PEFTLayout.weightsName
    static let configName = PEFTLayout.configName

    static func files(_ adapter: BinaryAdapter, modules: [DequantizedModule], dtype: ExportDType,
                      path: String) throws(ExportError) -> ExportFiles {
        let fromPEFT = adapter.layout == .peft
        var tensors: [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])] = []
        for module in modules {
            let (aName, bName) = names(module, fromPEFT: fromPEFT)
            let (aShape, bShape) = shapes(module)
            tensors.append((aName, dtype.tensorDType, aShape, try ExportSupport.encode(module.a, as: dtype, path: path, module: module.name)))
            tensors.append((bName, dtype.tensorDType, bShape, try ExportSupport.encode(module.b, as: dtype, path: path, module: module.name)))
        }
        var notes: [String] = []
        let carried = ExportSupport.appendCarried(adapter.carried, to: &tensors, notes: &notes)
        let metadata = ["format": "pt", "lordba.exported_from": adapter.metadata[ConversionMetadata.Key.inputSHA256] ?? ""]
        let weights = SafeTensorsWriter.serialize(tensors, metadata: metadata)
        let config = ExportSupport.jsonBytes(.object(self.config(adapter, modules: modules)))
        return ExportFiles(files: [(weightsName, weights), (configName, config)], notes: notes, carried: carried)
    }

    /// PEFT tensor names of a module's factors.
    static func names(_ module: DequantizedModule, fromPEFT: Bool) -> (String, String) {
        if fromPEFT { return (module.source.aTensor, module.source.bTensor) }
        let base = module.name.hasPrefix(ExportSupport.peftPrefix) ? module.name : ExportSupport.peftPrefix + module.name
        return PEFTLayout.factorNames(module: base, embedding: module.kind == .embedding)
    }

    /// PEFT shapes: conv kernels restored, `B` as a 1×1 convolution.
    static func shapes(_ module: DequantizedModule) -> ([Int], [Int]) {
        if case .conv(let kernel) = module.kind {
            let spatial = kernel.reduce(1, *)
            return ([module.rank, module.inFeatures / spatial] + kernel,
                    [module.outFeatures, module.rank] + kernel.map { _ in 1 })
        }
        return ([module.rank, module.inFeatures], [module.outFeatures, module.rank])
    }

    /// The LoraConfig: the source's, with rank, alpha, patterns and DoRA set so that PEFT's
    /// scaling is exactly 1 for every module.
    static func config(_ adapter: BinaryAdapter, modules: [DequantizedModule]) -> [(String, JSONValue)] {
        let rank = ExportSupport.commonRank(modules.map(\.rank))
        var config = ExportSupport.sourceConfig(adapter) ?? [
            ("base_model_name_or_path", .null),
            ("bias", .string("none")),
            ("fan_in_fan_out", .bool(false)),
            ("inference_mode", .bool(true)),
            ("lora_dropout", .integer(0)),
            ("modules_to_save", .null),
            ("peft_type", .string("LORA")),
            ("target_modules", .array(Set(modules.map { lastComponent($0.name) }).sorted().map { .string($0) })),
            ("task_type", .null),
        ]
        var rankPattern: [(String, JSONValue)] = []
        var alphaPattern: [(String, JSONValue)] = []
        for module in modules where module.rank != rank {
            let key = ExportSupport.strippingPEFTPrefix(module.name)
            rankPattern.append((key, .integer(Int64(module.rank))))
            alphaPattern.append((key, .integer(Int64(module.rank))))
        }
        ExportSupport.set(&config, PEFTLayout.ConfigKey.peftType, .string("LORA"))
        ExportSupport.set(&config, PEFTLayout.ConfigKey.r, .integer(Int64(rank)))
        ExportSupport.set(&config, PEFTLayout.ConfigKey.loraAlpha, .integer(Int64(rank)))
        ExportSupport.set(&config, PEFTLayout.ConfigKey.useRSLoRA, .bool(false))
        ExportSupport.set(&config, PEFTLayout.ConfigKey.rankPattern, .object(rankPattern))
        ExportSupport.set(&config, PEFTLayout.ConfigKey.alphaPattern, .object(alphaPattern))
        ExportSupport.set(&config, PEFTLayout.ConfigKey.useDoRA, .bool(modules.contains { $0.doraMagnitude != nil }))
        return config
    }

    static func lastComponent(_ name: String) -> String {
        name.split(separator: ".").last.map(String.init) ?? name
    }
}
