import Foundation
import Testing
@testable import LoRDBA

/// AdapterSource on PEFT adapters: samples, rank and alpha patterns, rsLoRA, embeddings, convolutions, carried tensors.
/// (MLX-LM, kohya and input resolution in AdapterSourceTests+MLXKohya.swift.)
@Suite struct AdapterSourceTests {
    typealias F = ReadingFixtures

    static func peftConfig(r: Int = 8, alpha: String = "16", extra: String = "") -> String {
        #"{"peft_type": "LORA", "r": \#(r), "lora_alpha": \#(alpha)\#(extra.isEmpty ? "" : ", " + extra)}"#
    }

    // MARK: - PEFT samples

    @Test func readsMiniLMSample() throws {
        let source = try AdapterSource.open(F.sample("minilm-cls-r8"))
        #expect(source.layout == .peft)
        #expect(source.weightsPath.hasSuffix("minilm-cls-r8/adapter_model.safetensors"))
        #expect(source.configPath?.hasSuffix("minilm-cls-r8/adapter_config.json") == true)
        #expect(source.modules.count == 12)
        #expect(source.modules.map(\.name) == source.modules.map(\.name).sorted())
        #expect(source.modules[0].name == "base_model.model.bert.encoder.layer.0.attention.self.query")
        for spec in source.modules {
            #expect(spec.kind == .linear && spec.rank == 8 && spec.scale == 2.0)
            #expect(spec.inFeatures == 384 && spec.outFeatures == 384 && spec.dtype == .f32 && !spec.transposed)
            #expect(spec.aTensor.name == spec.name + ".lora_A.weight" && spec.bTensor.name == spec.name + ".lora_B.weight")
            #expect(spec.alphaTensor == nil)
        }
        #expect(source.carried.map(\.name) == ["base_model.model.classifier.bias", "base_model.model.classifier.weight"])
        #expect(source.metadata == ["format": "pt"])
        #expect(source.notes.isEmpty)
        #expect(source.inputBytes == 301_520)

        let adapter = try source.loadAll()
        #expect(adapter.layout == .peft && adapter.modules.count == 12 && adapter.inputBytes == 301_520)
        let first = adapter.modules[0]
        #expect(first.a.rows == 8 && first.a.cols == 384 && first.b.rows == 384 && first.b.cols == 8)
        #expect(first.a.values == (try source.file.floats(source.modules[0].aTensor)))
        #expect(first.b.values == (try source.file.floats(source.modules[0].bTensor)))
        #expect(first.source == LoRAModule.Source(aTensor: source.modules[0].aTensor.name, bTensor: source.modules[0].bTensor.name, dtype: .f32))
        #expect(adapter.modules.allSatisfy { $0.a.isFinite && $0.b.isFinite && $0.b.frobeniusNormSquared > 0 })
        let weight = try #require(adapter.carried.last)
        #expect(weight.dtype == .f32 && weight.shape == [2, 384] && weight.bytes.count == 3072)
        #expect(weight.bytes == source.file.rawBytes(source.carried[1]))

        let dropped = try AdapterSource.open(F.sample("minilm-cls-r8"), dropExtra: true)
        #expect(dropped.carried.isEmpty && dropped.modules.count == 12)
        #expect(try dropped.loadAll().carried.isEmpty)
    }

    @Test func readsTinyLlamaSample() throws {
        let weights = F.sample("tiny-llama-lora-f16/adapter_model.safetensors")
        let source = try AdapterSource.open(weights)
        #expect(source.weightsPath == weights)
        #expect(source.layout == .peft && source.modules.count == 28 && source.carried.isEmpty)
        #expect(source.modules.allSatisfy { $0.rank == 16 && $0.scale == 2.0 && $0.dtype == .f16 && $0.kind == .linear })
        let down = try #require(source.modules.first { $0.name == "base_model.model.model.layers.0.mlp.down_proj" })
        #expect(down.inFeatures == 688 && down.outFeatures == 256)
        let gate = try #require(source.modules.first { $0.name == "base_model.model.model.layers.0.mlp.gate_proj" })
        #expect(gate.inFeatures == 256 && gate.outFeatures == 688)
        let module = try source.load(down)
        #expect(module.rank == 16 && module.inFeatures == 688 && module.outFeatures == 256 && module.scale == 2.0)
        #expect(module.source.dtype == .f16)
    }

    @Test func configPathOverridesTheOneBesideTheWeights() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = dir.write("w.safetensors", Array(try Data(contentsOf: URL(fileURLWithPath: F.sample("minilm-cls-r8/adapter_model.safetensors")))))
        let config = dir.write("other.json", text: Self.peftConfig(r: 8, alpha: "4"))
        let source = try AdapterSource.open(weights, configPath: config)
        #expect(source.configPath == config)
        #expect(source.modules.allSatisfy { $0.scale == 0.5 })
    }

    // MARK: - PEFT scale rules

    private func peftPair(_ module: String, rank: Int, in inF: Int = 6, out: Int = 5, seed: UInt64 = 1) -> [F.Tensor] {
        [F.tensor("base_model.model.\(module).lora_A.weight", [rank, inF], seed: seed),
         F.tensor("base_model.model.\(module).lora_B.weight", [out, rank], seed: seed + 100)]
    }

    @Test func resolvesRankAndAlphaPatternsLikePEFT() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.writeTensors("adapter_model.safetensors",
                         peftPair("model.layers.0.self_attn.q_proj", rank: 4)
                         + peftPair("model.layers.1.self_attn.q_proj", rank: 2, seed: 2)
                         + peftPair("model.layers.0.self_attn.k_proj", rank: 8, seed: 3)
                         + peftPair("model.layers.0.self_attn.q_proj_x", rank: 8, seed: 4)
                         + peftPair("model.layers.0.self_attn.xq_proj", rank: 8, seed: 5))
        // First matching key in JSON order wins, even when a later key is more specific;
        // "proj" matches no module because a pattern key must be a whole dotted suffix.
        dir.write("adapter_config.json", text: Self.peftConfig(r: 8, alpha: "24", extra: """
            "rank_pattern": {"layers.0.self_attn.q_proj": 4, "q_proj": 2},
            "alpha_pattern": {"proj": 1000, "q_proj": 8, "model.layers.0.self_attn.q_proj": 100}
            """))
        let source = try AdapterSource.open(dir.path)
        let scales = Dictionary(uniqueKeysWithValues: source.modules.map { ($0.name.replacingOccurrences(of: "base_model.model.model.layers.", with: ""), $0.scale) })
        #expect(scales == ["0.self_attn.q_proj": 2, "1.self_attn.q_proj": 4, "0.self_attn.k_proj": 3,
                           "0.self_attn.q_proj_x": 3, "0.self_attn.xq_proj": 3])
    }

    @Test func patternKeysMatchWholeDottedSuffixesAsRegularExpressions() throws {
        let config = try JSONParser.parse(#"{"lora_alpha": 8, "rank_pattern": {"q_proj": 1, "layers\\.[0-3]\\.mlp\\..*": 2, "layers.0.self_attn.v_proj": 3}}"#)
        let rules = try PEFTScaleRules(config: config, path: "c.json")
        func key(_ module: String) -> String? { try! rules.firstMatch(rules.rankPattern, PEFTScaleRules.patternTarget(module), field: "rank_pattern")?.key }
        #expect(key("model.layers.0.self_attn.q_proj") == "q_proj")
        #expect(key("q_proj") == "q_proj")
        #expect(key("base_model.model.model.layers.7.self_attn.q_proj") == "q_proj")
        #expect(key("model.layers.0.self_attn.q_proj_x") == nil)
        #expect(key("model.layers.0.self_attn.xq_proj") == nil)
        #expect(key("model.layers.2.mlp.up_proj") == "layers\\.[0-3]\\.mlp\\..*")
        #expect(key("model.layers.5.mlp.up_proj") == nil)
        #expect(key("model.layers.0.self_attn.v_proj") == "layers.0.self_attn.v_proj")
        #expect(key("model.layers.10.self_attn.v_proj") == nil)
        #expect(key("model.xlayers.0.self_attn.v_proj") == nil)
    }

    @Test func appliesRSLoRAAndFloatAlpha() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.writeTensors("adapter_model.safetensors", peftPair("m.a", rank: 4) + peftPair("m.b", rank: 16, seed: 9))
        dir.write("adapter_config.json", text: Self.peftConfig(r: 4, alpha: "16", extra: #""use_rslora": true, "rank_pattern": {"b": 16}"#))
        let source = try AdapterSource.open(dir.path)
        #expect(source.modules.map(\.scale) == [8, 4])

        let dir2 = TempDir()

        defer { dir2.remove() }
        dir2.writeTensors("adapter_model.safetensors", peftPair("m.a", rank: 4))
        dir2.write("adapter_config.json", text: Self.peftConfig(r: 4, alpha: "12.5", extra: #""use_rslora": false, "rank_pattern": null"#))
        #expect(try AdapterSource.open(dir2.path).modules.map(\.scale) == [3.125])
    }

    @Test func readsPEFTEmbeddingsAndConvolutions() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let convA = F.values(4 * 3 * 3 * 3, seed: 7)
        let convB = F.values(6 * 4, seed: 8)
        dir.writeTensors("adapter_model.safetensors", [
            F.tensor("base_model.model.model.embed_tokens.lora_embedding_A", [4, 50], seed: 1, .bf16),
            F.tensor("base_model.model.model.embed_tokens.lora_embedding_B", [12, 4], seed: 2, .bf16),
            F.tensor("base_model.model.conv.lora_A.weight", [4, 3, 3, 3], convA),
            F.tensor("base_model.model.conv.lora_B.weight", [6, 4, 1, 1], convB),
            F.tensor("base_model.model.conv1d.lora_A.weight", [4, 3, 5], seed: 3),
            F.tensor("base_model.model.conv1d.lora_B.weight", [6, 4, 1], seed: 4),
        ])
        dir.write("adapter_config.json", text: Self.peftConfig(r: 4, alpha: "8"))
        let source = try AdapterSource.open(dir.path)
        let byName = Dictionary(uniqueKeysWithValues: source.modules.map { ($0.name, $0) })
        let embed = try #require(byName["base_model.model.model.embed_tokens"])
        #expect(embed.kind == .embedding && embed.rank == 4 && embed.inFeatures == 50 && embed.outFeatures == 12 && embed.dtype == .bf16)
        let conv = try #require(byName["base_model.model.conv"])
        #expect(conv.kind == .conv(kernel: [3, 3]) && conv.inFeatures == 27 && conv.outFeatures == 6 && conv.scale == 2)
        let module = try source.load(conv)
        #expect(module.a.rows == 4 && module.a.cols == 27 && module.a.values == convA)
        #expect(module.b.rows == 6 && module.b.cols == 4 && module.b.values == convB)
        #expect(byName["base_model.model.conv1d"]?.kind == .conv(kernel: [5]))
        #expect(byName["base_model.model.conv1d"]?.inFeatures == 15)
        let loadedEmbed = try source.load(embed)
        #expect(loadedEmbed.kind == .embedding && loadedEmbed.a.cols == 50 && loadedEmbed.b.rows == 12)
    }

    @Test func carriesDoRAMagnitudesBiasesAndModulesToSave() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.writeTensors("adapter_model.safetensors", peftPair("model.q_proj", rank: 2) + [
            F.tensor("base_model.model.model.q_proj.lora_magnitude_vector", [5], seed: 3),
            F.tensor("base_model.model.model.q_proj.lora_B.bias", [5], seed: 4, .f16),
            F.tensor("base_model.model.score.weight", [2, 6], seed: 5),
            ("base_model.model.token_ids", .i64, [1], [9, 0, 0, 0, 0, 0, 0, 0]),
        ], metadata: ["format": "pt"])
        dir.write("adapter_config.json", text: Self.peftConfig(r: 2, alpha: "2", extra: #""use_dora": true"#))
        let source = try AdapterSource.open(dir.path)
        #expect(source.modules.map(\.name) == ["base_model.model.model.q_proj"])
        #expect(source.carried.map(\.name) == ["base_model.model.model.q_proj.lora_B.bias",
                                               "base_model.model.model.q_proj.lora_magnitude_vector",
                                               "base_model.model.score.weight", "base_model.model.token_ids"])
        let magnitude = source.loadCarried(source.carried[1])
        #expect(magnitude == CarriedTensor(name: "base_model.model.model.q_proj.lora_magnitude_vector", dtype: .f32, shape: [5],
                                           bytes: SafeTensorsWriter.encode(F.values(5, seed: 3), as: .f32)))
        #expect(source.loadCarried(source.carried[3]).bytes == [9, 0, 0, 0, 0, 0, 0, 0])
        #expect(try AdapterSource.open(dir.path, dropExtra: true).carried.isEmpty)
    }
}
