import Testing
@testable import LoRDBA

@Suite struct ModuleNameDiffusersTests {
    @Test func pipelineComponentsStayInTheType() {
        #expect(ModuleName("text_encoder.text_model.encoder.layers.0.self_attn.q_proj") == ModuleName(layer: 0, type: "text_encoder.q_proj"))
        #expect(ModuleName("text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj") == ModuleName(layer: 0, type: "text_encoder_2.q_proj"))
        #expect(ModuleName("transformer.single_transformer_blocks.3.attn.to_q").layer == nil)
        // Other layouts are unchanged.
        #expect(ModuleName("base_model.model.model.layers.3.self_attn.q_proj") == ModuleName(layer: 3, type: "q_proj"))
    }
}
