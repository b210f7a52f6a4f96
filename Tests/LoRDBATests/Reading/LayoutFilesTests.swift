import Testing
@testable import LoRDBA

/// Each input layout's file (`Reading/Layouts/`) is the one source of its names: what the
/// exporters write is what the reader recognises, as the same layout and factor.
@Suite struct LayoutFilesTests {
    private func classify(_ name: String) -> (module: String, layout: AdapterLayout, role: LayoutReader.Role, embedding: Bool)? {
        LayoutReader.classify(name).map { ($0.module, $0.pattern.layout, $0.pattern.role, $0.pattern.embedding) }
    }

    @Test func peftFactorNamesReadBackAsPEFT() throws {
        let (a, b) = PEFTLayout.factorNames(module: "base_model.model.layers.0.q_proj", embedding: false)
        #expect(a == "base_model.model.layers.0.q_proj.lora_A.weight" && b == "base_model.model.layers.0.q_proj.lora_B.weight")
        let readA = try #require(classify(a)), readB = try #require(classify(b))
        #expect(readA.module == "base_model.model.layers.0.q_proj" && readA.layout == .peft && readA.role == .a && !readA.embedding)
        #expect(readB.module == readA.module && readB.layout == .peft && readB.role == .b)
        let (ea, eb) = PEFTLayout.factorNames(module: "base_model.model.embed_tokens", embedding: true)
        #expect(ea == "base_model.model.embed_tokens.lora_embedding_A")
        #expect(try #require(classify(ea)).embedding && classify(eb)?.role == .b)
        #expect(PEFTLayout.withoutModelPrefix("base_model.model.layers.0.q_proj") == "layers.0.q_proj")
    }

    @Test func mlxAndKohyaNamesReadBackAsTheirLayout() throws {
        let mlx = try #require(classify("model.layers.0.q_proj" + MLXLayout.aSuffix))
        #expect(mlx.module == "model.layers.0.q_proj" && mlx.layout == .mlx && mlx.role == .a)
        #expect(classify("model.layers.0.q_proj" + MLXLayout.bSuffix)?.role == .b)
        let name = KohyaLayout.name(ofPath: "model.layers.0.self_attn.q_proj")
        #expect(name == "lora_model_layers_0_self_attn_q_proj")
        let kohya = try #require(classify(name + KohyaLayout.aSuffix))
        #expect(kohya.module == name && kohya.layout == .kohya && kohya.role == .a)
        #expect(classify(name + KohyaLayout.bSuffix)?.role == .b)
        #expect(classify(name + KohyaLayout.alphaSuffix) == nil)
    }

    @Test func defaultFileNamesAndMessagesComeFromTheLayouts() {
        #expect(AdapterSource.standardWeightsNames == ["adapter_model.safetensors", "adapters.safetensors", "pytorch_lora_weights.safetensors"])
        #expect(AdapterSource.standardConfigName == "adapter_config.json")
        #expect(PickleCheck.standardNames == ["adapter_model.bin", "pytorch_lora_weights.bin", "adapters.bin"])
        #expect(LayoutReader.expectedFactors
            == "…lora_A.weight/…lora_B.weight, …lora_a/…lora_b, …lora_down.weight/…lora_up.weight or …lora.down.weight/…lora.up.weight")
    }
}
