@testable import LoRDBA

/// A small BERT-shaped PEFT adapter for report tests: two layers × the six linear modules of an
/// encoder block (three of them named `dense`), ranks mixed by a `rank_pattern`.
enum ReportFixtures {
    typealias F = ReadingFixtures

    /// Module paths below `layer.N.`, with (in, out) and the rank the pattern gives them.
    static let paths: [(path: String, inFeatures: Int, outFeatures: Int, rank: Int)] = [
        ("attention.self.query", 16, 16, 2), ("attention.self.key", 16, 16, 4), ("attention.self.value", 16, 16, 4),
        ("attention.output.dense", 16, 16, 1), ("intermediate.dense", 16, 32, 8), ("output.dense", 32, 16, 2),
    ]

    static let layers = 2

    /// Full module names, in the order written.
    static var names: [String] {
        (0..<layers).flatMap { l in paths.map { "base_model.model.bert.encoder.layer.\(l).\($0.path)" } }
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into `dir`; returns the folder.
    @discardableResult
    static func writeMixedRankBERT(in dir: TempDir) -> String {
        var tensors: [F.Tensor] = []
        var seed: UInt64 = 300
        for l in 0..<layers {
            for p in paths {
                let name = "base_model.model.bert.encoder.layer.\(l).\(p.path)"
                tensors.append(F.tensor(name + ".lora_A.weight", [p.rank, p.inFeatures], seed: seed))
                tensors.append(F.tensor(name + ".lora_B.weight", [p.outFeatures, p.rank], seed: seed + 1))
                seed += 2
            }
        }
        dir.writeTensors("adapter_model.safetensors", tensors, metadata: ["format": "pt"])
        dir.write("adapter_config.json", text: """
            {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["query", "key", "value", "dense"],
             "rank_pattern": {"attention.output.dense": 1, "output.dense": 2, "intermediate.dense": 8, "query": 2},
             "alpha_pattern": {}}
            """)
        return dir.path
    }
}
