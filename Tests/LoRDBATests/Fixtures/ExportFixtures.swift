import Foundation
@testable import LoRDBA

/// Synthetic adapters and dense products shared by the export tests.
enum ExportFixtures {
    /// A PEFT adapter folder with every kind the exporters handle: two linear modules of
    /// different rank (one DoRA, with its magnitude), an embedding, a 3×3 conv and a
    /// `modules_to_save` classifier weight.
    static func mixedPEFTAdapter(in dir: TempDir) -> String {
        let folder = dir.mkdir("mixed-peft")
        let p = "base_model.model."
        let F = ReadingFixtures.self
        _ = TempDirAt(folder).writeTensors("adapter_model.safetensors", [
            F.tensor(p + "model.layers.0.self_attn.q_proj.lora_A.weight", [4, 24], seed: 1),
            F.tensor(p + "model.layers.0.self_attn.q_proj.lora_B.weight", [16, 4], seed: 2),
            F.tensor(p + "model.layers.0.self_attn.q_proj.lora_magnitude_vector", [16], seed: 3),
            F.tensor(p + "model.layers.0.self_attn.v_proj.lora_A.weight", [8, 24], seed: 4, .f16),
            F.tensor(p + "model.layers.0.self_attn.v_proj.lora_B.weight", [16, 8], seed: 5, .f16),
            F.tensor(p + "model.embed_tokens.lora_embedding_A", [4, 50], seed: 6),
            F.tensor(p + "model.embed_tokens.lora_embedding_B", [12, 4], seed: 7),
            F.tensor(p + "conv.lora_A.weight", [4, 3, 3, 3], seed: 8),
            F.tensor(p + "conv.lora_B.weight", [8, 4, 1, 1], seed: 9),
            F.tensor(p + "classifier.weight", [2, 16], seed: 10),
        ], metadata: ["format": "pt"])
        _ = TempDirAt(folder).write("adapter_config.json", text: """
            {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {"v_proj": 8}, "alpha_pattern": {"v_proj": 4},
             "use_dora": true, "modules_to_save": ["classifier"], "use_rslora": false,
             "target_modules": ["q_proj", "v_proj", "embed_tokens", "conv"], "task_type": "CAUSAL_LM"}
            """)
        return folder
    }

    /// `‖B₁A₁ − B₂A₂‖_F / ‖B₂A₂‖_F` in low-rank form (Double): with `X = [B₁, −B₂]` and
    /// `Y = [A₁; A₂]`, `‖XY‖² = Σ (XᵀX) ⊙ (YYᵀ)`; nothing `out × in` is formed.
    static func relativeDifference(b1: [Float], a1: [Float], k1: Int, b2: [Float], a2: [Float], k2: Int,
                                   out: Int, in n: Int) -> Double {
        let k = k1 + k2
        func x(_ r: Int, _ j: Int) -> Double { j < k1 ? Double(b1[r * k1 + j]) : -Double(b2[r * k2 + j - k1]) }
        func y(_ j: Int, _ c: Int) -> Double { j < k1 ? Double(a1[j * n + c]) : Double(a2[(j - k1) * n + c]) }
        var gx = [Double](repeating: 0, count: k * k), gy = [Double](repeating: 0, count: k * k)
        for r in 0..<out { for i in 0..<k { let xi = x(r, i); for j in 0..<k { gx[i * k + j] += xi * x(r, j) } } }
        for c in 0..<n { for i in 0..<k { let yi = y(i, c); for j in 0..<k { gy[i * k + j] += yi * y(j, c) } } }
        var difference = 0.0, norm = 0.0
        for i in 0..<k { for j in 0..<k {
            difference += gx[i * k + j] * gy[i * k + j]
            if i >= k1, j >= k1 { norm += gx[i * k + j] * gy[i * k + j] }
        } }
        return (max(difference, 0) / norm).squareRoot()
    }
}

/// A folder inside a temp dir, with the same writers.
struct TempDirAt: TestFolder {
    let path: String
    init(_ path: String) { self.path = path }
}
