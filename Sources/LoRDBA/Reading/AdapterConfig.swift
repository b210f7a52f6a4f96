/// Reading `adapter_config.json` and turning it into per-module scales.
enum AdapterConfigFile {
    /// The members of the JSON object in the config file at `path`.
    static func read(_ path: String) throws(AdapterError) -> JSONValue {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            let text = error.description
            let prefix = path + ": "
            throw .unreadableConfig(path: path, reason: text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text)
        }
        let parsed = file.withBytes { bytes in
            Result { () throws(JSONError) -> JSONValue in try JSONParser.parse(bytes) }
        }
        switch parsed {
        case .success(let root):
            guard root.objectValue != nil else {
                throw .unreadableConfig(path: path, reason: "config must be a JSON object, found \(root.typeName)")
            }
            return root
        case .failure(.duplicateKey(let key)):
            throw .invalidConfig(path: path, field: key, problem: "key appears more than once in one object")
        case .failure(let error):
            throw .unreadableConfig(path: path, reason: error.description)
        }
    }

    /// A reader of the config object `config` at `path`: `null` members count as absent (Python
    /// writes unset fields as `null`), unknown members are ignored (configs carry many), and a
    /// member of the wrong type is an `invalidConfig` naming `fieldPrefix` + the member.
    static func reader(_ config: JSONValue, path: String, fieldPrefix: String = "") throws(AdapterError)
        -> JSONObjectReader<AdapterError>
    {
        try JSONObjectReader(config, context: fieldPrefix, nullMeansAbsent: true, refusesUnknownMembers: false) { prefix, problem in
            switch problem {
            case .notAnObject(let found):
                .unreadableConfig(path: path, reason: "config must be a JSON object, found \(found.typeName)")
            case .wrongType(let key, let found, let expected):
                .invalidConfig(path: path, field: prefix + key, problem: "must be \(expected), found \(found.typeName)")
            case .missing(let key), .negative(let key, _), .unknownMember(let key):
                .invalidConfig(path: path, field: prefix + key, problem: problem.description)
            }
        }
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

    /// The prefix `PeftModel` puts before module paths in saved keys; pattern keys match the path without it.
    static let modelPrefix = "base_model.model."

    /// Put before field names in messages: empty for `adapter_config.json`, e.g.
    /// `lora_adapter_metadata: unet.` for a diffusers component's config.
    let fieldPrefix: String

    init(config: JSONValue, path: String, fieldPrefix: String = "") throws(AdapterError) {
        configPath = path
        self.fieldPrefix = fieldPrefix
        var config = try AdapterConfigFile.reader(config, path: path, fieldPrefix: fieldPrefix)
        if let name = try config.optionalString("peft_type") {
            guard name.uppercased() == "LORA" else {
                throw .invalidConfig(path: path, field: fieldPrefix + "peft_type", problem: "\(name) adapters are not plain LoRA; only LORA can be converted")
            }
        }
        guard let alpha = try config.optionalNumber("lora_alpha") else {
            throw .missingConfigField(path: path, field: fieldPrefix + "lora_alpha", problem: "missing from the config; the LoRA scale cannot be known without it")
        }
        loraAlpha = alpha

        if let rValue = config.value("r") {
            guard let rank = rValue.integerValue, rank > 0, let r = Int(exactly: rank) else {
                throw .invalidConfig(path: path, field: fieldPrefix + "r", problem: "must be a positive integer, found \(rValue.serialized())")
            }
            self.r = r
        } else {
            r = nil
        }

        useRSLoRA = try config.optionalBool("use_rslora") ?? false

        rankPattern = try Self.patterns(&config, field: "rank_pattern", prefix: fieldPrefix, path: path) { value throws(AdapterError) -> Int? in
            guard let rank = value.integerValue, rank > 0 else { return nil }
            return Int(exactly: rank)
        }
        alphaPattern = try Self.patterns(&config, field: "alpha_pattern", prefix: fieldPrefix, path: path) { value throws(AdapterError) -> Double? in
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
        moduleName.hasPrefix(modelPrefix) ? String(moduleName.dropFirst(modelPrefix.count)) : moduleName
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
        if let entry = try firstMatch(rankPattern, target, field: "rank_pattern") {
            guard entry.value == tensorRank else {
                throw .configRankMismatch(path: weightsPath, tensor: tensor, configRank: entry.value, tensorRank: tensorRank,
                                          source: fieldPrefix + "rank_pattern[\"\(entry.key)\"]")
            }
        } else if let r, r != tensorRank {
            throw .configRankMismatch(path: weightsPath, tensor: tensor, configRank: r, tensorRank: tensorRank, source: fieldPrefix + "r")
        }
        let alpha = try firstMatch(alphaPattern, target, field: "alpha_pattern")?.value ?? loraAlpha
        let rank = Double(tensorRank)
        return useRSLoRA ? alpha / rank.squareRoot() : alpha / rank
    }
}

/// The MLX-LM scale: `lora_parameters.scale`, used as is.
enum MLXScaleRule {
    /// MLX-LM's default `scale` when the config does not give one.
    static let defaultScale = 20.0

    /// The scale and, when the default was used, a note saying why.
    static func scale(config: JSONValue?, path: String?) throws(AdapterError) -> (Double, String?) {
        guard let config, let path else {
            return (defaultScale, "no adapter_config.json found; using the MLX-LM default scale \(defaultScale)")
        }
        var root = try AdapterConfigFile.reader(config, path: path)
        guard var parameters = try root.optionalObject("lora_parameters", context: "lora_parameters.") else {
            return (defaultScale, "\(path) has no lora_parameters; using the MLX-LM default scale \(defaultScale)")
        }
        guard let scale = try parameters.optionalNumber("scale") else {
            return (defaultScale, "\(path) has no lora_parameters.scale; using the MLX-LM default scale \(defaultScale)")
        }
        return (scale, nil)
    }
}
