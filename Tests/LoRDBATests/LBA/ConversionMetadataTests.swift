import Foundation
import Testing
@testable import LoRDBA

@Suite struct ConversionMetadataTests {
    @Test func conversionRecordsOptionsVersionAndInputHash() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var options = ConversionOptions()
        options.pipeline = .plain
        options.pipeline.compactScales = true
        options.pipeline.scaleDType = .bf16
        options.pipeline.seed = 7
        options.pipeline.binaryRank = .multiple(2)
        let output = dir.path + "/t.lba"
        _ = try Converter(options: options).convert(input: ReadingFixtures.sample("tiny-llama-lora-f16"), output: output)
        let metadata = try LBAFile(path: output).adapter.metadata
        // `sha256sum samples/tiny-llama-lora-f16/adapter_model.safetensors`
        #expect(metadata["lordba.input_sha256"] == "67edda0b2bd4529603c761527f6bd0be788b6594ec9df72d0f0e9d0780b1b637")
        #expect(metadata["lordba.input_file"] == "adapter_model.safetensors")
        #expect(metadata["lordba.tool_version"] == ToolVersion.current)
        // As-is signs, but with extra channels and compact scales: not plain binarization.
        #expect(metadata["lordba.method"] == "lordba")
        #expect(metadata["lordba.scales"] == "compact")
        #expect(metadata["lordba.scale_dtype"] == "bf16")
        #expect(metadata["lordba.seed"] == "7")
        #expect(metadata["lordba.binary_rank"] == "2x")
        #expect(metadata["lordba.refine_steps"] == "0" && metadata["lordba.refit_sweeps"] == "0")
        #expect(metadata["lordba.target_error"] == nil)
        let config = try JSONParser.parse(try #require(metadata["lordba.source_config"]))
        #expect(config["lora_alpha"] == .integer(32) && config["r"] == .integer(16))
    }

    @Test func carriedRolesFollowNamesAndModulesToSave() {
        let modules: Set = ["base_model.model.layers.0.q_proj"]
        let save = ["classifier", "score"]
        func role(_ name: String) -> CarriedRole { CarriedRole.classify(name, moduleNames: modules, modulesToSave: save) }
        #expect(role("base_model.model.layers.0.q_proj.lora_magnitude_vector") == .magnitude)
        #expect(role("base_model.model.layers.1.q_proj.lora_magnitude_vector") == .other)  // no such module
        #expect(role("base_model.model.classifier.weight") == .modulesToSave)
        #expect(role("base_model.model.classifier.bias") == .modulesToSave)
        #expect(role("base_model.model.pre_classifier.weight") == .other)
        #expect(role("base_model.model.layers.0.q_proj.lora_B.bias") == .bias)
        #expect(role("step") == .other)
    }
}
