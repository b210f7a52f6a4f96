/// The diffusers conventions: how a file is recognised as diffusers, how its older key forms
/// map to module paths, and where each module's LoRA config comes from.
///
/// diffusers pipelines (`save_lora_weights`) write PEFT-style factors under a component prefix
/// (`unet.…to_q.lora_A.weight`, `transformer.…`, `text_encoder.…`) and, since diffusers 0.34,
/// each component's `LoraConfig` in the safetensors metadata: `__metadata__["lora_adapter_metadata"]`
/// is a JSON object whose keys carry the component prefix (`"unet.r"`, `"unet.lora_alpha"`,
/// `"unet.use_rslora"`, `"unet.rank_pattern"`, …). Older files use `….lora.down.weight` /
/// `….lora.up.weight` (attention processors: `….to_q_lora.down.weight`; text encoders:
/// `….lora_linear_layer.down.weight`) with optional `<module>.alpha` tensors.
enum DiffusersLayout {
    /// The weights file `save_lora_weights` writes.
    static let weightsName = "pytorch_lora_weights.safetensors"
    /// Pickled weights under the same stem (refused unread, see ``PickleCheck``).
    static let pickledName = "pytorch_lora_weights.bin"

    /// The safetensors metadata key holding the components' LoRA configs.
    static let metadataKey = "lora_adapter_metadata"

    /// Pipeline components diffusers saves LoRA weights under.
    static let components: Set<String> = ["unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3", "prior"]

    /// Whether a file whose PEFT-style module paths are `modules` is a diffusers file: it has
    /// `lora_adapter_metadata`, or every module path starts with a pipeline component.
    static func recognises(metadata: [String: String], modules: [String]) -> Bool {
        if metadata[metadataKey] != nil { return true }
        return !modules.isEmpty && modules.allSatisfy { component(of: $0).map(components.contains) == true }
    }

    /// The first path component of `module`, when it has more than one.
    static func component(of module: String) -> String? {
        guard let dot = module.firstIndex(of: ".") else { return nil }
        return String(module[..<dot])
    }

    // MARK: - Older key forms

    /// The older forms' factor suffixes, as name patterns for `LayoutReader`.
    static let namePatterns: [LayoutReader.NamePattern] = [
        .init(suffix: ".lora.down.weight", layout: .diffusers, role: .a, embedding: false, partner: ".lora.up.weight"),
        .init(suffix: ".lora.up.weight", layout: .diffusers, role: .b, embedding: false, partner: ".lora.down.weight"),
        .init(suffix: "_lora.down.weight", layout: .diffusers, role: .a, embedding: false, partner: "_lora.up.weight"),
        .init(suffix: "_lora.up.weight", layout: .diffusers, role: .b, embedding: false, partner: "_lora.down.weight"),
        .init(suffix: ".lora_linear_layer.down.weight", layout: .diffusers, role: .a, embedding: false, partner: ".lora_linear_layer.up.weight"),
        .init(suffix: ".lora_linear_layer.up.weight", layout: .diffusers, role: .b, embedding: false, partner: ".lora_linear_layer.down.weight"),
    ]

    /// The module path of an older-form key stem (the key without its factor suffix), as
    /// diffusers maps it when loading: `.processor` dropped; for attention processors
    /// (`…to_q_lora.down.weight`) `to_out` becomes `to_out.0`, and in text encoders
    /// `to_q/k/v/out` become `q_proj/k_proj/v_proj/out_proj`.
    static func modulePath(stem: String, suffix: String) -> String {
        var parts = stem.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 2 { parts = [parts[0]] + parts.dropFirst().dropLast().filter { $0 != "processor" } + [parts.last!] }
        var path = parts.joined(separator: ".")
        guard suffix.hasPrefix("_lora.") else { return path }
        let inTextEncoder = component(of: path)?.hasPrefix("text_encoder") == true
        let renames: [(String, String)] = inTextEncoder
            ? [("to_q", "q_proj"), ("to_k", "k_proj"), ("to_v", "v_proj"), ("to_out", "out_proj")]
            : [("to_out", "to_out.0")]
        for (old, new) in renames where path.hasSuffix("." + old) {
            path = String(path.dropLast(old.count)) + new
            break
        }
        return path
    }

    // MARK: - Scales

    /// Each component's scale rules from `lora_adapter_metadata` (or one config for all).
    struct ScaleRules {
        /// Rules by component prefix (`"unet"`); the `""` entry holds unprefixed keys
        /// (`save_lora_adapter` of a single model writes those).
        var byComponent: [String: PEFTScaleRules] = [:]
        /// One PEFT config used for every module (`--config`, or `adapter_config.json` beside the weights).
        var config: PEFTScaleRules?

        /// Reads the metadata of `weightsPath`; `nil` when it has no `lora_adapter_metadata`.
        static func fromMetadata(_ metadata: [String: String], weightsPath: String) throws(AdapterError) -> ScaleRules? {
            guard let text = metadata[metadataKey] else { return nil }
            let root: JSONValue
            do {
                root = try JSONParser.parse(text)
            } catch {
                throw .invalidConfig(path: weightsPath, field: metadataKey, problem: error.description)
            }
            guard let members = root.objectValue else {
                throw .invalidConfig(path: weightsPath, field: metadataKey, problem: "must be a JSON object, found \(root.typeName)")
            }
            // Group "unet.r" under "unet" (LoraConfig's own fields have no dot); keys without a
            // prefix stay in the "" group.
            var groups: [String: [(String, JSONValue)]] = [:]
            var order: [String] = []
            for (key, value) in members {
                var group = ""
                var field = key
                if let prefix = component(of: key) {
                    group = prefix
                    field = String(key.dropFirst(prefix.count + 1))
                }
                if groups[group] == nil { order.append(group) }
                groups[group, default: []].append((field, value))
            }
            var rules = ScaleRules()
            for group in order {
                let prefix = group.isEmpty ? "\(metadataKey) " : "\(metadataKey) \(group)."
                rules.byComponent[group] = try PEFTScaleRules(config: .object(groups[group]!), path: weightsPath, fieldPrefix: prefix)
            }
            return rules
        }

        /// The rules for `module` and the path its pattern keys match (without the component prefix).
        func rules(for module: String) -> (PEFTScaleRules, String)? {
            let prefix = component(of: module)
            let target = prefix.map { String(module.dropFirst($0.count + 1)) } ?? module
            if let prefix, let found = byComponent[prefix] { return (config ?? found, target) }
            let known = prefix.map(components.contains) == true
            if let found = config ?? byComponent[""] { return (found, known ? target : module) }
            return nil
        }
    }
}
