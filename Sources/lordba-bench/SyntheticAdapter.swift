#if canImport(Glibc)
import Glibc
#endif

import LoRDBA

/// A seeded, PEFT-layout LoRA adapter with realistic factor statistics, for benchmarks and
/// tests that need model-sized inputs no sample can provide.
///
/// `A` is Kaiming-uniform (PEFT's initialisation, bound `1/√in`) and `B` is Gaussian with
/// column norms decaying across the rank, like a trained adapter's.
public struct SyntheticAdapter: Sendable {
    /// One module: its path and shape.
    public struct Module: Sendable {
        public var name: String
        public var inFeatures: Int
        public var outFeatures: Int
        /// This module's rank when it differs from the adapter's (PEFT's `rank_pattern`).
        public var rank: Int? = nil
    }

    public var modules: [Module]
    public var rank: Int
    public var alpha: Double
    public var seed: UInt64
    /// PEFT `rank_pattern` entries (key → rank), in order; modules whose name they match get that
    /// rank (first match, as PEFT resolves them).
    public var rankPattern: [(key: String, rank: Int)] = []

    public init(modules: [Module], rank: Int, alpha: Double, seed: UInt64 = 1) {
        self.modules = modules
        self.rank = rank
        self.alpha = alpha
        self.seed = seed
    }

    /// A LLaMA-7B-shaped adapter: 32 layers × q,k,v,o (4096→4096), gate, up (4096→11008), down (11008→4096).
    public static func llama7B(rank: Int = 16, layers: Int = 32) -> SyntheticAdapter {
        var modules: [Module] = []
        for layer in 0..<layers {
            let prefix = "base_model.model.model.layers.\(layer)"
            for p in ["q_proj", "k_proj", "v_proj", "o_proj"] {
                modules.append(Module(name: "\(prefix).self_attn.\(p)", inFeatures: 4096, outFeatures: 4096))
            }
            modules.append(Module(name: "\(prefix).mlp.gate_proj", inFeatures: 4096, outFeatures: 11008))
            modules.append(Module(name: "\(prefix).mlp.up_proj", inFeatures: 4096, outFeatures: 11008))
            modules.append(Module(name: "\(prefix).mlp.down_proj", inFeatures: 11008, outFeatures: 4096))
        }
        return SyntheticAdapter(modules: modules, rank: rank, alpha: Double(2 * rank))
    }

    /// A BERT-base-shaped adapter on every linear layer of each encoder block: `attention.self.`
    /// query, key, value, `attention.output.dense`, `intermediate.dense` (768→3072) and
    /// `output.dense` (3072→768): three modules per layer share the short name `dense`. With
    /// `mixedRanks`, a `rank_pattern` gives the module types different ranks (r/4 to 2r).
    public static func bertBase(rank: Int = 8, layers: Int = 12, mixedRanks: Bool = false) -> SyntheticAdapter {
        let hidden = 768, intermediate = 3072
        var modules: [Module] = []
        for layer in 0..<layers {
            let prefix = "base_model.model.bert.encoder.layer.\(layer)"
            for p in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                modules.append(Module(name: "\(prefix).\(p)", inFeatures: hidden, outFeatures: hidden))
            }
            modules.append(Module(name: "\(prefix).intermediate.dense", inFeatures: hidden, outFeatures: intermediate))
            modules.append(Module(name: "\(prefix).output.dense", inFeatures: intermediate, outFeatures: hidden))
        }
        var adapter = SyntheticAdapter(modules: modules, rank: rank, alpha: Double(2 * rank))
        if mixedRanks {
            // PEFT takes the first key whose `(.*\.)?key$` matches: attention.output.dense first.
            adapter.rankPattern = [("attention.output.dense", Swift.max(1, rank / 4)), ("output.dense", Swift.max(1, rank / 2)),
                                   ("intermediate.dense", 2 * rank), ("query", Swift.max(1, rank / 2))]
            for i in adapter.modules.indices {
                let name = adapter.modules[i].name
                adapter.modules[i].rank = adapter.rankPattern.first { name.hasSuffix("." + $0.key) }?.rank
            }
        }
        return adapter
    }

    /// The rank of module `index`.
    public func rank(of index: Int) -> Int { modules[index].rank ?? rank }

    /// The factors of module `index`, deterministic for the seed.
    public func factors(_ index: Int) -> (a: Matrix, b: Matrix) {
        let m = modules[index]
        var rng = SeededGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
        let rank = rank(of: index)
        var a = Matrix(rows: rank, cols: m.inFeatures)
        let bound = 1 / Float(m.inFeatures).squareRoot()
        for i in 0..<a.values.count { a.values[i] = (2 * rng.nextUnitFloat() - 1) * bound }
        var b = Matrix(rows: m.outFeatures, cols: rank)
        for o in 0..<m.outFeatures {
            for j in 0..<rank { b[o, j] = rng.nextGaussian() * 0.01 / Float(1 + j).squareRoot() }
        }
        return (a, b)
    }

    /// Writes `adapter_model.safetensors` (fp16) and `adapter_config.json` into `directory`.
    public func write(to directory: String) throws {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            prefix += "/" + part
            _ = mkdir(prefix, 0o755)
        }
        var tensors: [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])] = []
        for i in modules.indices {
            let (a, b) = factors(i)
            tensors.append((modules[i].name + ".lora_A.weight", .f16, [a.rows, a.cols], Self.f16Bytes(a.values)))
            tensors.append((modules[i].name + ".lora_B.weight", .f16, [b.rows, b.cols], Self.f16Bytes(b.values)))
        }
        let bytes = SafeTensorsWriter.serialize(tensors, metadata: ["format": "pt"])
        try AtomicFile.write(bytes, to: directory + "/adapter_model.safetensors", overwrite: true)
        let targets = Array(Set(modules.map { ModuleName($0.name).type })).sorted()
        let config: JSONValue = .object([
            ("peft_type", .string("LORA")), ("r", .integer(Int64(rank))), ("lora_alpha", .double(alpha)),
            ("target_modules", .array(targets.map(JSONValue.string))), ("use_rslora", .bool(false)),
            ("rank_pattern", .object(rankPattern.map { ($0.key, JSONValue.integer(Int64($0.rank))) })),
            ("alpha_pattern", .object([])),
        ])
        try AtomicFile.write(Array(config.serialized(indent: 2).utf8), to: directory + "/adapter_config.json", overwrite: true)
    }

    static func f16Bytes(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        for (i, v) in values.enumerated() {
            let bits = Float16(v).bitPattern
            out[2 * i] = UInt8(truncatingIfNeeded: bits)
            out[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        }
        return out
    }
}
