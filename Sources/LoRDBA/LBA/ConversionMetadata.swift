/// The `lordba.*` metadata a conversion records in the `.lba` (`formats/lba.md` §5.1), so a file
/// says how it was made: tool version, which input (SHA-256), the source adapter config, and
/// every option that shaped the stored modules.
public enum ConversionMetadata {
    /// Metadata keys written by the converter (all required in files written by tool 0.2.0 and
    /// later; older files lack them).
    public enum Key {
        public static let toolVersion = "lordba.tool_version"
        public static let sourceLayout = "lordba.source_layout"
        public static let inputFile = "lordba.input_file"
        public static let inputSHA256 = "lordba.input_sha256"
        public static let sourceConfig = "lordba.source_config"
        public static let method = "lordba.method"
        public static let factorization = "lordba.factorization"
        public static let refitSweeps = "lordba.refit_sweeps"
        public static let refineSteps = "lordba.refine_steps"
        public static let bcdRounds = "lordba.bcd_rounds"
        public static let budget = "lordba.budget"
        public static let budgetObjective = "lordba.budget_objective"
        public static let binaryRank = "lordba.binary_rank"
        public static let targetError = "lordba.target_error"
        public static let scales = "lordba.scales"
        public static let scaleDType = "lordba.scale_dtype"
        public static let seed = "lordba.seed"
        public static let dropExtra = "lordba.drop_extra"
        public static let calibrationSHA256 = "lordba.calibration_sha256"
        public static let adapterName = "lordba.adapter_name"
    }

    /// The entries for one conversion of `source` with `options`.
    /// - Parameters:
    ///   - inputSHA256: SHA-256 of the weights file (hex).
    ///   - calibrationSHA256: SHA-256 of the calibration statistics file, when one was used.
    public static func entries(source: AdapterSource, options: ConversionOptions, inputSHA256: String,
                               calibrationSHA256: String?) -> [String: String] {
        let pipeline = options.pipeline
        var entries: [String: String] = [
            Key.toolVersion: ToolVersion.current,
            Key.sourceLayout: source.layout.rawValue,
            Key.inputFile: source.weightsPath.split(separator: "/").last.map(String.init) ?? source.weightsPath,
            Key.inputSHA256: inputSHA256,
            Key.method: method(pipeline),
            Key.factorization: pipeline.factorization.rawValue,
            Key.refitSweeps: String(pipeline.refitSweeps),
            Key.refineSteps: "0",  // always 0: refinement against the model is lordba-refine's (lordba.refine.*)
            Key.bcdRounds: String(pipeline.descentRounds),
            Key.binaryRank: binaryRankText(pipeline.binaryRank),
            Key.scales: pipeline.compactScales ? "compact" : "full",
            Key.scaleDType: pipeline.scaleDType.rawValue,
            Key.seed: String(pipeline.seed),
            Key.dropExtra: options.dropExtra ? "true" : "false",
        ]
        if let target = pipeline.targetError { entries[Key.targetError] = String(target) }
        if let budget = options.budget {
            switch budget {
            case .bytes(let bytes): entries[Key.budget] = String(bytes)
            case .sizeRatio(let ratio): entries[Key.budget] = "\(ratio)x"
            }
            entries[Key.budgetObjective] = options.budgetObjective.rawValue
        }
        if let calibrationSHA256 { entries[Key.calibrationSHA256] = calibrationSHA256 }
        if let name = options.adapterName { entries[Key.adapterName] = name }
        if let path = source.configPath, let config = try? AdapterConfigFile.read(path) {
            entries[Key.sourceConfig] = config.serialized()
        }
        return entries
    }

    /// `tensors` with their ``CarriedRole`` set from their names, the adapter's modules and the
    /// source config's `modules_to_save`.
    public static func withRoles(_ tensors: [CarriedTensor], source: AdapterSource) -> [CarriedTensor] {
        var modulesToSave: [String] = []
        if let path = source.configPath, let config = try? AdapterConfigFile.read(path),
           let list = config["modules_to_save"]?.arrayValue {
            modulesToSave = list.compactMap(\.stringValue)
        }
        let names = Set(source.modules.map(\.name))
        return tensors.map { tensor in
            var tensor = tensor
            tensor.role = CarriedRole.classify(tensor.name, moduleNames: names, modulesToSave: modulesToSave)
            return tensor
        }
    }

    /// `plain` when the pipeline is plain LoRDBA (as-is factors, no refit, search or refinement,
    /// one channel per rank, full scales), else `lordba` (the stages as configured).
    static func method(_ pipeline: PipelineOptions) -> String {
        pipeline.isPlain ? "plain" : "lordba"
    }

    /// `2x` for a multiple of the LoRA rank, `24` for a fixed count (the `--binary-rank` syntax).
    static func binaryRankText(_ choice: BinaryRankChoice) -> String {
        switch choice {
        case .multiple(let n): "\(n)x"
        case .fixed(let n): String(n)
        }
    }
}
