/// Writes a `.lba` back as a llama.cpp LoRA adapter (GGUF v3, loaded with `--lora`).
///
/// Keys: `general.architecture`, `general.type = adapter`, `adapter.type = lora`,
/// `adapter.lora.alpha`. Tensors `blk.N.<name>.weight.lora_a` (`A'`, `[k, in]`) and `.lora_b`
/// (`B'`, `[out, k]`) with llama.cpp's names for the LLaMA-family projections. llama.cpp scales
/// each pair by `alpha / k`; alpha is the largest `k` and each `B'` is multiplied by
/// `k / alpha`, so the applied ΔW is the stored one for every rank.
///
/// llama.cpp keeps q and k projections with their output rows permuted for its rope layout
/// (`W.reshape(h, 2, out/h/2, in).swapaxes(1, 2)`, `h` = `num_attention_heads` for q and
/// `num_key_value_heads` for k), so their `lora_b` rows are permuted the same way; the head
/// counts come from the base model's `config.json`.
enum GGUFExport {
    /// PEFT / HF projection names → llama.cpp tensor names.
    static let tensorNames: [String: String] = [
        "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
        "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
    ]

    /// The head counts and architecture read from a base model's `config.json`.
    struct BaseConfig {
        var heads: Int?
        var kvHeads: Int?
        var modelType: String?
        /// `num_hidden_layers`, for mlx-lm's `num_layers`.
        var layers: Int?

        init(path: String) throws(ExportError) {
            let root: JSONValue
            do { root = try AdapterConfigFile.read(path) } catch {
                throw .baseConfig(path: path, problem: error.description)
            }
            func positive(_ key: String) throws(ExportError) -> Int? {
                guard let value = root[key], value != .null else { return nil }
                guard let n = value.integerValue, n > 0 else {
                    throw .baseConfig(path: path, problem: "\(key) must be a positive integer")
                }
                return Int(n)
            }
            heads = try positive("num_attention_heads")
            kvHeads = try positive("num_key_value_heads") ?? heads
            modelType = root["model_type"]?.stringValue
            layers = try positive("num_hidden_layers")
        }
    }

    static func file(_ adapter: BinaryAdapter, modules: [DequantizedModule], options: ExportOptions,
                     path: String) throws(ExportError) -> ExportFiles {
        let base = try options.baseConfigPath.map { (p: String) throws(ExportError) -> BaseConfig in try BaseConfig(path: p) }
        guard let architecture = options.architecture ?? base?.modelType else {
            throw .baseConfig(path: path, problem: "the GGUF architecture is unknown: give --arch (e.g. llama) or --base-config with model_type")
        }
        let alpha = modules.map(\.rank).max() ?? 1
        var writer = GGUFWriter()
        writer.add("general.architecture", .string(architecture))
        writer.add("general.type", .string("adapter"))
        writer.add("adapter.type", .string("lora"))
        writer.add("adapter.lora.alpha", .float32(Float(alpha)))
        writer.add("general.alignment", .uint32(UInt32(GGUFWriter.alignment)))
        let type: GGUFWriter.TensorType = switch options.dtype {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
        for original in modules {
            if original.doraMagnitude != nil {
                throw .unsupported(path: path, module: original.name, problem: "llama.cpp LoRA adapters have no DoRA; export to peft instead")
            }
            guard original.kind == .linear else {
                throw .unsupported(path: path, module: original.name, problem: "llama.cpp LoRA adapters take linear projections only, this is \(original.kind.name)")
            }
            let (layer, projection) = try llamaName(original.name, path: path)
            var module = original.scalingB(by: Float(original.rank) / Float(alpha))
            if projection == "attn_q" || projection == "attn_k" {
                guard let base else {
                    throw .unsupported(path: path, module: original.name,
                                       problem: "llama.cpp permutes q and k rows for rope; give --base-config (the base model's config.json) for the head counts")
                }
                guard let heads = projection == "attn_q" ? base.heads : base.kvHeads else {
                    throw .baseConfig(path: options.baseConfigPath ?? path, problem: "num_attention_heads is missing")
                }
                guard module.outFeatures % (2 * heads) == 0 else {
                    throw .unsupported(path: path, module: original.name,
                                       problem: "out = \(module.outFeatures) is not a multiple of 2 × \(heads) heads")
                }
                module.b = ropePermutedRows(module.b, rows: module.outFeatures, cols: module.rank, heads: heads)
            }
            let name = "blk.\(layer).\(projection).weight"
            writer.addTensor(name + ".lora_a", shape: [module.rank, module.inFeatures], type: type,
                             bytes: try ExportSupport.encode(module.a, as: options.dtype, path: path, module: module.name))
            writer.addTensor(name + ".lora_b", shape: [module.outFeatures, module.rank], type: type,
                             bytes: try ExportSupport.encode(module.b, as: options.dtype, path: path, module: module.name))
        }
        let notes = adapter.carried.map {
            "carried tensor \($0.name) (\($0.role?.rawValue ?? "unknown role")) has no place in a llama.cpp LoRA adapter; left out"
        }
        return ExportFiles(files: [("", writer.serialized())], notes: notes, carried: 0)
    }

    /// `(N, attn_q)` for `…layers.N.self_attn.q_proj`; a clear error for anything else.
    static func llamaName(_ name: String, path: String) throws(ExportError) -> (Int, String) {
        let parts = name.split(separator: ".").map(String.init)
        if let i = parts.firstIndex(of: "layers"), i + 1 < parts.count, let layer = Int(parts[i + 1]),
           let last = parts.last, let mapped = tensorNames[last] {
            return (layer, mapped)
        }
        throw .unsupported(path: path, module: name,
                           problem: "no llama.cpp tensor name (GGUF export takes layers.N.{self_attn,mlp}.{q,k,v,o,gate,up,down}_proj)")
    }

    /// Rows of `[rows, cols]` reordered as llama.cpp's q/k layout:
    /// row `(h, j, t)` of the result is row `(h, t, j)` of the input, for `h < heads`,
    /// `t < 2`, `j < rows/heads/2` (reshape `[heads, 2, half, cols]`, swap axes 1 and 2).
    static func ropePermutedRows(_ values: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
        let half = rows / heads / 2
        var out = [Float](repeating: 0, count: values.count)
        for h in 0..<heads {
            for j in 0..<half {
                for t in 0..<2 {
                    let source = (h * 2 + t) * half + j
                    let target = (h * half + j) * 2 + t
                    for c in 0..<cols { out[target * cols + c] = values[source * cols + c] }
                }
            }
        }
        return out
    }
}
