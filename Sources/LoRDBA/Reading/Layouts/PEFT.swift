/// The Hugging Face PEFT layout (`PeftModel.save_pretrained`): where the files are, how the
/// factor keys are named, and how each module's scale follows from the `LoraConfig`. Used by
/// the reader (``LayoutReader``) and by the PEFT exporter.
enum PEFTLayout {
    /// The weights file `save_pretrained` writes.
    static let weightsName = "adapter_model.safetensors"
    /// The pickled weights of older PEFT versions (refused unread, see ``PickleCheck``).
    static let pickledName = "adapter_model.bin"
    /// The `LoraConfig` beside the weights.
    static let configName = "adapter_config.json"
    /// The prefix `PeftModel` puts before module paths in saved keys; `rank_pattern` and
    /// `alpha_pattern` keys match the path without it.
    static let modelPrefix = "base_model.model."

    /// The factor key components (`<module>.lora_A.weight`; embeddings `<module>.lora_embedding_A`).
    static let aComponent = "lora_A", bComponent = "lora_B"
    static let embeddingAComponent = "lora_embedding_A", embeddingBComponent = "lora_embedding_B"

    /// The `LoraConfig` fields that decide a module's rank and scale (read here, written by the exporter).
    enum ConfigKey {
        static let peftType = "peft_type"
        static let r = "r"
        static let loraAlpha = "lora_alpha"
        static let useRSLoRA = "use_rslora"
        static let rankPattern = "rank_pattern"
        static let alphaPattern = "alpha_pattern"
        static let useDoRA = "use_dora"
    }

    /// The factor keys of the module at `path`: `lora_A`/`lora_B` weights, or for an embedding
    /// the `lora_embedding_A`/`lora_embedding_B` parameters (no `.weight`).
    static func factorNames(module path: String, embedding: Bool) -> (a: String, b: String) {
        embedding ? ("\(path).\(embeddingAComponent)", "\(path).\(embeddingBComponent)")
                  : ("\(path).\(aComponent).weight", "\(path).\(bComponent).weight")
    }

    /// The factor suffixes, as name patterns for ``LayoutReader``.
    static let namePatterns: [LayoutReader.NamePattern] = {
        let (a, b) = factorNames(module: "", embedding: false)
        let (ea, eb) = factorNames(module: "", embedding: true)
        return [
            .init(suffix: a, layout: .peft, role: .a, embedding: false, partner: b),
            .init(suffix: b, layout: .peft, role: .b, embedding: false, partner: a),
            .init(suffix: ea, layout: .peft, role: .a, embedding: true, partner: eb),
            .init(suffix: eb, layout: .peft, role: .b, embedding: true, partner: ea),
        ]
    }()

    /// `name` without ``modelPrefix``.
    static func withoutModelPrefix(_ name: String) -> String {
        name.hasPrefix(modelPrefix) ? String(name.dropFirst(modelPrefix.count)) : name
    }
}

/// The LoraConfig fields of a PEFT adapter that decide each module's rank and scale, resolved
/// the way PEFT resolves them when it builds the model.
struct PEFTScaleRules {
    struct PatternEntry<Value> {
        var key: String
        var regex: BoundedRegex
        var value: Value
    }

    let configPath: String
    let loraAlpha: Double
    let r: Int?
    let useRSLoRA: Bool
    let rankPattern: [PatternEntry<Int>]
    let alphaPattern: [PatternEntry<Double>]

    /// Put before field names in messages: empty for `adapter_config.json`, e.g.
    /// `lora_adapter_metadata: unet.` for a diffusers component's config.
    let fieldPrefix: String

    init(config: JSONValue, path: String, fieldPrefix: String = "") throws(AdapterError) {
        configPath = path
        self.fieldPrefix = fieldPrefix
        var config = try AdapterConfigFile.reader(config, path: path, fieldPrefix: fieldPrefix)
        if let name = try config.optionalString(PEFTLayout.ConfigKey.peftType) {
            guard name.uppercased() == "LORA" else {
                throw .invalidConfig(path: path, field: fieldPrefix + PEFTLayout.ConfigKey.peftType, problem: "\(name) adapters are not plain LoRA; only LORA can be converted")
            }
        }
        guard let alpha = try config.optionalNumber(PEFTLayout.ConfigKey.loraAlpha) else {
            throw .missingConfigField(path: path, field: fieldPrefix + PEFTLayout.ConfigKey.loraAlpha, problem: "missing from the config; the LoRA scale cannot be known without it")
        }
        loraAlpha = alpha

        if let rValue = config.value(PEFTLayout.ConfigKey.r) {
            guard let rank = rValue.integerValue, rank > 0, let r = Int(exactly: rank) else {
                throw .invalidConfig(path: path, field: fieldPrefix + PEFTLayout.ConfigKey.r, problem: "must be a positive integer, found \(rValue.serialized())")
            }
            self.r = r
        } else {
            r = nil
        }

        useRSLoRA = try config.optionalBool(PEFTLayout.ConfigKey.useRSLoRA) ?? false

        rankPattern = try Self.patterns(&config, field: PEFTLayout.ConfigKey.rankPattern, prefix: fieldPrefix, path: path) { value throws(AdapterError) -> Int? in
            guard let rank = value.integerValue, rank > 0 else { return nil }
            return Int(exactly: rank)
        }
        alphaPattern = try Self.patterns(&config, field: PEFTLayout.ConfigKey.alphaPattern, prefix: fieldPrefix, path: path) { value throws(AdapterError) -> Double? in
            value.doubleValue
        }
    }

    private static func patterns<V>(_ config: inout JSONObjectReader<AdapterError>, field: String, prefix fieldPrefix: String,
                                    path: String, value convert: (JSONValue) throws(AdapterError) -> V?)
        throws(AdapterError) -> [PatternEntry<V>]
    {
        guard let pattern = try config.optionalObject(field) else { return [] }
        var entries: [PatternEntry<V>] = []
        for (key, item) in pattern.members {
            let subject = "\(field)[\"\(key)\"]"
            guard let value = try convert(item) else {
                let wanted = V.self == Int.self ? "a positive integer" : "a number"
                throw .invalidConfig(path: path, field: fieldPrefix + subject, problem: "must be \(wanted), found \(item.serialized())")
            }
            let regex: BoundedRegex
            do {
                regex = try BoundedRegex("(.*\\.)?(\(key))")
            } catch {
                throw .invalidConfig(path: path, field: fieldPrefix + subject, problem: "key is not a valid regular expression")
            }
            entries.append(PatternEntry(key: key, regex: regex, value: value))
        }
        return entries
    }

    /// The module path pattern keys are matched against: the saved name without `base_model.model.`.
    static func patternTarget(_ moduleName: String) -> String {
        PEFTLayout.withoutModelPrefix(moduleName)
    }

    /// The first entry, in config order, whose key matches the whole of `target` as `(.*\.)?(key)`.
    /// Matching is bounded (``BoundedRegex``): a key that backtracks catastrophically is an error.
    func firstMatch<V>(_ entries: [PatternEntry<V>], _ target: String, field: String) throws(AdapterError) -> PatternEntry<V>? {
        for entry in entries {
            do {
                if try entry.regex.wholeMatch(target) { return entry }
            } catch {
                throw .invalidConfig(path: configPath, field: "\(field)[\"\(entry.key)\"]",
                                     problem: "\(error.description), matching \"\(target)\"")
            }
        }
        return nil
    }

    /// The effective scale of `module` whose tensors have rank `tensorRank`.
    /// - Throws: when the config's rank for the module disagrees with the tensors.
    /// - Parameter patternTarget: the path pattern keys are matched against (default: `module`
    ///   without `base_model.model.`).
    func scale(module: String, tensorRank: Int, tensor: String, weightsPath: String,
               patternTarget: String? = nil) throws(AdapterError) -> Double {
        let target = patternTarget ?? Self.patternTarget(module)
        if let entry = try firstMatch(rankPattern, target, field: PEFTLayout.ConfigKey.rankPattern) {
            guard entry.value == tensorRank else {
                throw .configRankMismatch(path: weightsPath, tensor: tensor, configRank: entry.value, tensorRank: tensorRank,
                                          source: fieldPrefix + "rank_pattern[\"\(entry.key)\"]")
            }
        } else if let r, r != tensorRank {
            throw .configRankMismatch(path: weightsPath, tensor: tensor, configRank: r, tensorRank: tensorRank, source: fieldPrefix + "r")
        }
        let alpha = try firstMatch(alphaPattern, target, field: PEFTLayout.ConfigKey.alphaPattern)?.value ?? loraAlpha
        let rank = Double(tensorRank)
        return useRSLoRA ? alpha / rank.squareRoot() : alpha / rank
    }
}
