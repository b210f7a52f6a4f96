@testable import LoRDBA

/// Adapters as users find them, written by the tests: a diffusers pipeline LoRA (two components,
/// attention and 3×3 conv modules, rsLoRA and patterns in `lora_adapter_metadata`), the same
/// adapter saved the PEFT way, and raw PEFT state dicts whose keys carry adapter names.
enum InputFixtures {
    typealias F = ReadingFixtures

    /// One module of the diffusers fixture: module path below its component, factor shapes, seed.
    struct Module {
        var component: String
        var path: String
        var a: [Int]
        var b: [Int]
        var seed: UInt64
    }

    static let unetAttention = "down_blocks.0.attentions.0.transformer_blocks.0.attn1"

    /// unet: `to_q` r 4, `to_k` r 2 (rank pattern), `conv1` 3×3 r 4 (alpha pattern);
    /// text_encoder: `q_proj` r 8.
    static let modules: [Module] = [
        Module(component: "unet", path: unetAttention + ".to_q", a: [4, 8], b: [8, 4], seed: 11),
        Module(component: "unet", path: unetAttention + ".to_k", a: [2, 8], b: [8, 2], seed: 12),
        Module(component: "unet", path: "down_blocks.0.resnets.0.conv1", a: [4, 3, 3, 3], b: [6, 4, 1, 1], seed: 13),
        Module(component: "text_encoder", path: "text_model.encoder.layers.0.self_attn.q_proj", a: [8, 10], b: [10, 8], seed: 14),
    ]

    /// The unet's LoraConfig: rsLoRA, `to_k` at rank 2, `conv1` at alpha 18.
    static let unetConfig = #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": true, "rank_pattern": {"to_k": 2}, "alpha_pattern": {"conv1": 18}, "use_dora": false, "target_modules": ["to_q", "to_k", "conv1"]}"#
    /// The text encoder's LoraConfig: plain `alpha/r`.
    static let textEncoderConfig = #"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_rslora": false, "rank_pattern": {}, "alpha_pattern": {}, "target_modules": ["q_proj"]}"#

    /// The scales PEFT gives the modules above, in `modules` order.
    static let expectedScales: [Double] = [8 / 4.0.squareRoot(), 8 / 2.0.squareRoot(), 18 / 4.0.squareRoot(), 16 / 8.0]

    /// `lora_adapter_metadata` as diffusers writes it: each config's fields under `<component>.`.
    static let adapterMetadata = #"""
    {"text_encoder.alpha_pattern": {}, "text_encoder.lora_alpha": 16, "text_encoder.peft_type": "LORA", "text_encoder.r": 8,
     "text_encoder.rank_pattern": {}, "text_encoder.target_modules": ["q_proj"], "text_encoder.use_rslora": false,
     "unet.alpha_pattern": {"conv1": 18}, "unet.lora_alpha": 8, "unet.peft_type": "LORA", "unet.r": 4,
     "unet.rank_pattern": {"to_k": 2}, "unet.target_modules": ["to_q", "to_k", "conv1"], "unet.use_dora": false,
     "unet.use_rslora": true}
    """#

    static func factors(_ module: Module, prefix: String, aSuffix: String = ".lora_A.weight",
                        bSuffix: String = ".lora_B.weight") -> [F.Tensor] {
        [F.tensor(prefix + module.path + aSuffix, module.a, seed: module.seed),
         F.tensor(prefix + module.path + bSuffix, module.b, seed: module.seed + 100)]
    }

    /// Writes the diffusers file (`pytorch_lora_weights.safetensors`) into `dir`; returns its path.
    @discardableResult
    static func writeDiffusers(in dir: TempDir, name: String = "pytorch_lora_weights.safetensors",
                               metadata: String? = adapterMetadata) -> String {
        let tensors = modules.flatMap { factors($0, prefix: $0.component + ".") }
        var meta = ["format": "pt"]
        if let metadata { meta[DiffusersLayout.metadataKey] = metadata }
        return dir.writeTensors(name, tensors, metadata: meta)
    }

    /// Writes the same adapter the PEFT way, one `save_pretrained` folder per component
    /// (`unet/`, `text_encoder/`, each with its `adapter_config.json`); returns the folders.
    static func writePEFT(in dir: TempDir) -> [String: String] {
        var folders: [String: String] = [:]
        for (component, config) in [("unet", unetConfig), ("text_encoder", textEncoderConfig)] {
            let folder = dir.mkdir(component)
            let tensors = modules.filter { $0.component == component }.flatMap { factors($0, prefix: "base_model.model.") }
            dir.writeTensors(component + "/adapter_model.safetensors", tensors, metadata: ["format": "pt"])
            dir.write(component + "/adapter_config.json", text: config)
            folders[component] = folder
        }
        return folders
    }

    /// Module paths of the raw PEFT fixture (below `base_model.model.`).
    static let rawPaths = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"]

    /// A raw `PeftModel.state_dict()`: two adapters (`default`, `style`) on two modules, the base
    /// layers' weights, a DoRA magnitude of `style` and a `modules_to_save` copy of `default`. Seeds: adapter `default` 20+, `style` 40+.
    static func rawPEFTTensors() -> [F.Tensor] {
        var tensors: [F.Tensor] = []
        for (i, path) in rawPaths.enumerated() {
            let base = "base_model.model." + path
            tensors.append(F.tensor(base + ".base_layer.weight", [6, 6], seed: UInt64(60 + i)))
            for (adapter, seed) in [("default", UInt64(20)), ("style", UInt64(40))] {
                tensors.append(F.tensor(base + ".lora_A.\(adapter).weight", [2, 6], seed: seed + UInt64(i)))
                tensors.append(F.tensor(base + ".lora_B.\(adapter).weight", [6, 2], seed: seed + 10 + UInt64(i)))
            }
            tensors.append(F.tensor(base + ".lora_magnitude_vector.style.weight", [6], seed: UInt64(80 + i)))
        }
        tensors.append(F.tensor("base_model.model.score.modules_to_save.default.weight", [2, 6], seed: 90))
        return tensors
    }

    /// The `style` adapter as `save_pretrained` writes it (same values, no adapter name, DoRA
    /// magnitudes as `….lora_magnitude_vector`).
    static func savedStyleTensors() -> [F.Tensor] {
        rawPaths.enumerated().flatMap { i, path -> [F.Tensor] in
            let base = "base_model.model." + path
            return [F.tensor(base + ".lora_A.weight", [2, 6], seed: 40 + UInt64(i)),
                    F.tensor(base + ".lora_B.weight", [6, 2], seed: 50 + UInt64(i)),
                    F.tensor(base + ".lora_magnitude_vector", [6], seed: 80 + UInt64(i))]
        }
    }

    static let rawConfig = #"{"peft_type": "LORA", "r": 2, "lora_alpha": 6}"#
}
