import Testing
@testable import LoRDBA

@Suite struct PEFTAdapterNameTests {
    typealias F = ReadingFixtures
    typealias I = InputFixtures

    /// A folder with the raw two-adapter state dict and its config; returns the weights path.
    func writeRaw(_ dir: TempDir) -> String {
        dir.write("adapter_config.json", text: I.rawConfig)
        return dir.writeTensors("adapter_model.safetensors", I.rawPEFTTensors())
    }

    @Test func severalAdaptersNeedAChoice() {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = writeRaw(dir)
        let error = caught { () throws(AdapterError) in try AdapterSource.open(weights) }
        #expect(error == .ambiguousAdapterName(path: weights, names: ["default", "style"]))
        #expect(error?.description == "\(weights): the file holds 2 adapters (default, style); pick one with --adapter-name NAME")

        let unknown = caught { () throws(AdapterError) in try AdapterSource.open(weights, adapterName: "nope") }
        #expect(unknown == .unknownAdapterName(path: weights, name: "nope", names: ["default", "style"]))
        #expect(unknown?.description == "\(weights): no adapter named \"nope\"; the file holds default, style")
    }

    @Test func theChosenAdapterIsReadWithoutItsName() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = writeRaw(dir)
        let style = try AdapterSource.open(weights, adapterName: "style")
        #expect(style.layout == .peft)
        #expect(style.modules.map(\.name) == I.rawPaths.map { "base_model.model." + $0 })
        #expect(style.modules.allSatisfy { $0.scale == 3 && $0.rank == 2 && $0.aTensor.name == $0.name + ".lora_A.style.weight" })
        // style's DoRA magnitudes are carried under their save_pretrained names; base weights
        // and everything of `default` (factors, modules_to_save copy) are left out.
        #expect(style.carried.map(\.name) == [
            "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
            "base_model.model.model.layers.0.self_attn.v_proj.lora_magnitude_vector",
        ])
        #expect(style.notes.contains("read adapter \"style\" of 2 named in the keys (default, style); module names drop the adapter name; 5 tensor(s) of the other adapter(s) left out; 2 tensor(s) of the base model left out, as save_pretrained does"))
        #expect(style.notes.contains("2 DoRA magnitude tensor(s) (kohya dora_scale / PEFT lora_magnitude_vector) carried unchanged"))
        #expect(try style.loadAll().carried[0].bytes == SafeTensorsWriter.encode(F.values(6, seed: 80), as: .f32))

        let first = try AdapterSource.open(weights, adapterName: "default")
        #expect(first.modules.allSatisfy { $0.bTensor.name == $0.name + ".lora_B.default.weight" })
        #expect(first.carried.map(\.name) == ["base_model.model.score.weight"])
        let a = try first.load(first.modules[0]).a
        #expect(a.values == F.values(12, seed: 20))
    }

    @Test func oneNamedAdapterNeedsNoChoice() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("adapter_config.json", text: I.rawConfig)
        let weights = dir.writeTensors("adapter_model.safetensors", I.rawPEFTTensors().filter { !$0.name.contains("style") })
        let source = try AdapterSource.open(weights)
        #expect(source.modules.count == 2 && source.carried.map(\.name) == ["base_model.model.score.weight"])
        #expect(source.notes == ["the keys name the adapter \"default\"; module names drop it; 2 tensor(s) of the base model left out, as save_pretrained does"])
        // A name given for a file whose keys carry none is an error, not silently ignored.
        let plain = dir.writeTensors("plain.safetensors", I.savedStyleTensors())
        let error = caught { () throws(AdapterError) in try AdapterSource.open(plain, adapterName: "style") }
        #expect(error == .unknownAdapterName(path: plain, name: "style", names: []))
        #expect(error?.description == "\(plain): no adapter named \"style\"; the file holds no named adapter")
    }

    @Test func namedEmbeddingFactors() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("adapter_config.json", text: I.rawConfig)
        let weights = dir.writeTensors("adapter_model.safetensors", [
            F.tensor("base_model.model.embed_tokens.lora_embedding_A.default", [2, 20], seed: 1),
            F.tensor("base_model.model.embed_tokens.lora_embedding_B.default", [6, 2], seed: 2),
        ])
        let source = try AdapterSource.open(weights)
        #expect(source.modules.count == 1)
        #expect(source.modules[0].name == "base_model.model.embed_tokens" && source.modules[0].kind == .embedding)
        #expect(source.modules[0].inFeatures == 20 && source.modules[0].scale == 3)
    }
}
