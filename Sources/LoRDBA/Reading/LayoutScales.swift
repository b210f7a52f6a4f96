/// Each module's scale, by layout: PEFT and diffusers configs, the MLX global scale, and
/// kohya-style `alpha` tensors.
extension LayoutReader {
    /// Config-derived state shared by all modules, read once on first use.
    struct ScaleSource {
        let layout: AdapterLayout
        var peft: PEFTScaleRules?
        var mlx: Double?
        var mlxNote: String?
        var diffusers: DiffusersLayout.ScaleRules?
        var diffusersLoaded = false
        var kohyaMissingAlpha = 0
        var kohyaZeroAlpha = 0

        init(layout: AdapterLayout) { self.layout = layout }

        func notes(moduleCount: Int) -> [String] {
            var out: [String] = []
            if let mlxNote { out.append(mlxNote) }
            if kohyaMissingAlpha > 0 {
                let config = layout == .diffusers ? " and no config in \(DiffusersLayout.metadataKey)" : ""
                out.append("\(kohyaMissingAlpha) of \(moduleCount) \(layout.rawValue) module(s) have no alpha tensor\(config); alpha = rank (scale 1) for them")
            }
            if kohyaZeroAlpha > 0 {
                out.append("\(kohyaZeroAlpha) \(layout.rawValue) module(s) have alpha 0; alpha = rank (scale 1) for them, as kohya does")
            }
            return out
        }
    }

    /// The scale of `spec`, whose factor keys start with `stem`.
    func scale(for spec: inout ModuleSpec, stem: String, source: inout ScaleSource) throws(AdapterError) -> Double {
        switch source.layout {
        case .peft:
            if source.peft == nil {
                guard let configPath else {
                    throw .missingConfigField(path: path, field: PEFTLayout.ConfigKey.loraAlpha,
                                              problem: "PEFT adapters keep lora_alpha in \(PEFTLayout.configName), and none was found beside the weights; give it with --config PATH")
                }
                source.peft = try PEFTScaleRules(config: AdapterConfigFile.read(configPath), path: configPath)
            }
            return try source.peft!.scale(module: spec.name, tensorRank: spec.rank, tensor: spec.aTensor.name, weightsPath: path)
        case .mlx:
            if source.mlx == nil {
                let config = try configPath.map { (p: String) throws(AdapterError) -> JSONValue in try AdapterConfigFile.read(p) }
                let (value, note) = try MLXScaleRule.scale(config: config, path: configPath)
                source.mlx = value
                source.mlxNote = note
            }
            return source.mlx!
        case .kohya:
            return try alphaTensorScale(&spec, candidates: [spec.name + KohyaLayout.alphaSuffix], source: &source)
        case .diffusers:
            if !source.diffusersLoaded {
                source.diffusersLoaded = true
                // A config file replaces the metadata, which is then not even parsed.
                if let configPath {
                    var rules = DiffusersLayout.ScaleRules()
                    rules.config = try PEFTScaleRules(config: AdapterConfigFile.read(configPath), path: configPath)
                    source.diffusers = rules
                } else {
                    source.diffusers = try DiffusersLayout.ScaleRules.fromMetadata(file.metadata, weightsPath: path)
                }
            }
            if let (rules, target) = source.diffusers?.rules(for: spec.name) {
                return try rules.scale(module: spec.name, tensorRank: spec.rank, tensor: spec.aTensor.name,
                                       weightsPath: path, patternTarget: target)
            }
            // No config for the module: `<module>.alpha` as diffusers' network alphas, else alpha = r.
            return try alphaTensorScale(&spec, candidates: [stem + KohyaLayout.alphaSuffix, spec.name + KohyaLayout.alphaSuffix],
                                        source: &source)
        }
    }
}
