import Foundation
import Testing
@testable import LoRDBA

@Suite struct DiffusersLayoutTests {
    typealias F = ReadingFixtures
    typealias I = InputFixtures

    static let attention = "unet." + I.unetAttention

    @Test func readsComponentsWithTheirMetadataConfigs() throws {
        let dir = TempDir()
        defer { dir.remove() }
        I.writeDiffusers(in: dir)
        // A folder is found by diffusers' standard weights name.
        let source = try AdapterSource.open(dir.path)
        #expect(source.layout == .diffusers)
        #expect(source.weightsPath == dir.path + "/pytorch_lora_weights.safetensors")
        #expect(source.configPath == nil && source.carried.isEmpty && source.notes.isEmpty)
        #expect(source.modules.count == 4)
        #expect(source.modules.map(\.name) == source.modules.map(\.name).sorted())
        for (module, scale) in zip(I.modules, I.expectedScales) {
            let spec = try #require(source.modules.first { $0.name == module.component + "." + module.path })
            #expect(spec.scale == scale, "\(spec.name)")
            #expect(spec.rank == module.a[0])
            #expect(spec.aTensor.name == spec.name + ".lora_A.weight")
        }
        let conv = try #require(source.modules.first { $0.name == "unet.down_blocks.0.resnets.0.conv1" })
        #expect(conv.kind == .conv(kernel: [3, 3]) && conv.inFeatures == 27 && conv.outFeatures == 6)
        #expect(source.modules.filter { $0.kind == .linear }.count == 3)
        #expect(source.metadata[DiffusersLayout.metadataKey] == I.adapterMetadata)
        let loaded = try source.load(conv)
        #expect(loaded.a.rows == 4 && loaded.a.cols == 27 && loaded.b.rows == 6 && loaded.b.cols == 4)
    }

    @Test func configFileOverridesTheMetadata() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = I.writeDiffusers(in: dir)
        let config = dir.write("override.json", text: #"{"lora_alpha": 12, "rank_pattern": {"to_k": 2, "q_proj": 8}}"#)
        let source = try AdapterSource.open(weights, configPath: config)
        #expect(source.layout == .diffusers && source.configPath == config)
        let scales = Dictionary(uniqueKeysWithValues: source.modules.map { ($0.name, $0.scale) })
        #expect(scales[Self.attention + ".to_q"] == 3)
        #expect(scales[Self.attention + ".to_k"] == 6)
        #expect(scales["unet.down_blocks.0.resnets.0.conv1"] == 3)
        #expect(scales["text_encoder.text_model.encoder.layers.0.self_attn.q_proj"] == 1.5)
        // The metadata is replaced, not read: a broken one does not matter then.
        let broken = I.writeDiffusers(in: dir, name: "broken.safetensors", metadata: "[1, 2")
        #expect(try AdapterSource.open(broken, configPath: config).modules.map(\.scale) == source.modules.map(\.scale))
    }

    @Test func metadataRankDisagreeingWithTheTensorsNamesTheField() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let metadata = I.adapterMetadata.replacingOccurrences(of: #""unet.r": 4"#, with: #""unet.r": 8"#)
        let weights = I.writeDiffusers(in: dir, metadata: metadata)
        let error = caught { () throws(AdapterError) in try AdapterSource.open(weights) }
        #expect(error == .configRankMismatch(path: weights, tensor: Self.attention + ".to_q.lora_A.weight", configRank: 8,
                                             tensorRank: 4, source: "lora_adapter_metadata unet.r"))
        #expect(error?.description == "\(weights): \(Self.attention).to_q.lora_A.weight: tensor rank 4 disagrees with lora_adapter_metadata unet.r = 8 in the config")

        let bad = I.writeDiffusers(in: dir, name: "bad.safetensors", metadata: #"{"unet.lora_alpha": "eight"}"#)
        let e2 = caught { () throws(AdapterError) in try AdapterSource.open(bad) }
        #expect(e2 == .invalidConfig(path: bad, field: "lora_adapter_metadata unet.lora_alpha", problem: "must be a number, found string"))
        let broken = I.writeDiffusers(in: dir, name: "broken.safetensors", metadata: "[1, 2")
        let e3 = caught { () throws(AdapterError) in try AdapterSource.open(broken) }
        guard case .invalidConfig(broken, "lora_adapter_metadata", _)? = e3 else { Issue.record("\(String(describing: e3))"); return }
    }

    @Test func withoutMetadataAlphaIsTheRank() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = I.writeDiffusers(in: dir, metadata: nil)
        let source = try AdapterSource.open(weights)
        #expect(source.layout == .diffusers && source.modules.count == 4)
        #expect(source.modules.allSatisfy { $0.scale == 1 })
        #expect(source.notes == ["4 of 4 diffusers module(s) have no alpha tensor and no config in lora_adapter_metadata; alpha = rank (scale 1) for them"])
    }

    @Test func olderKeyFormsAreRenamedAndUseAlphaTensors() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let attention = Self.attention
        let text = "text_encoder.text_model.encoder.layers.0"
        let tensors: [F.Tensor] = [
            F.tensor(attention + ".processor.to_q_lora.down.weight", [4, 8], seed: 1),
            F.tensor(attention + ".processor.to_q_lora.up.weight", [8, 4], seed: 2),
            F.tensor(attention + ".processor.to_out_lora.down.weight", [4, 8], seed: 3),
            F.tensor(attention + ".processor.to_out_lora.up.weight", [8, 4], seed: 4),
            F.tensor(attention + ".to_out.0.alpha", [], [2]),
            F.tensor("unet.mid_block.resnets.0.conv1.lora.down.weight", [4, 3, 3, 3], seed: 5),
            F.tensor("unet.mid_block.resnets.0.conv1.lora.up.weight", [6, 4, 1, 1], seed: 6),
            F.tensor("unet.mid_block.resnets.0.conv1.alpha", [], [8]),
            F.tensor(text + ".self_attn.to_k_lora.down.weight", [2, 10], seed: 7),
            F.tensor(text + ".self_attn.to_k_lora.up.weight", [10, 2], seed: 8),
            F.tensor(text + ".mlp.fc1.lora_linear_layer.down.weight", [2, 10], seed: 9),
            F.tensor(text + ".mlp.fc1.lora_linear_layer.up.weight", [12, 2], seed: 10),
            F.tensor(text + ".mlp.fc1.alpha", [], [1]),
        ]
        let weights = dir.writeTensors("old.safetensors", tensors)
        let source = try AdapterSource.open(weights)
        #expect(source.layout == .diffusers)
        let byName = Dictionary(uniqueKeysWithValues: source.modules.map { ($0.name, $0) })
        #expect(byName.count == 5)
        #expect(byName[attention + ".to_q"]?.scale == 1)
        #expect(byName[attention + ".to_q"]?.aTensor.name == attention + ".processor.to_q_lora.down.weight")
        #expect(byName[attention + ".to_out.0"]?.scale == 0.5)
        #expect(byName[attention + ".to_out.0"]?.alphaTensor?.name == attention + ".to_out.0.alpha")
        let conv = try #require(byName["unet.mid_block.resnets.0.conv1"])
        #expect(conv.scale == 2 && conv.kind == .conv(kernel: [3, 3]) && conv.inFeatures == 27)
        #expect(byName[text + ".self_attn.k_proj"]?.scale == 1)
        #expect(byName[text + ".mlp.fc1"]?.scale == 0.5 && byName[text + ".mlp.fc1"]?.outFeatures == 12)
        #expect(source.carried.isEmpty)
        #expect(source.notes.contains("2 of 5 diffusers module(s) have no alpha tensor and no config in lora_adapter_metadata; alpha = rank (scale 1) for them"))

        let lonely = dir.writeTensors("lonely.safetensors", [tensors[5]])
        let error = caught { () throws(AdapterError) in try AdapterSource.open(lonely) }
        #expect(error == .unpaired(path: lonely, tensor: "unet.mid_block.resnets.0.conv1.lora.down.weight",
                                   missing: "unet.mid_block.resnets.0.conv1.lora.up.weight"))
    }

    @Test func unprefixedMetadataOfOneModelAppliesToAllModules() throws {
        // diffusers' save_lora_adapter on one model: no component prefix on keys or metadata.
        let dir = TempDir()
        defer { dir.remove() }
        let unet = I.modules.filter { $0.component == "unet" }
        let config = I.unetConfig.replacingOccurrences(of: #""peft_type": "LORA", "#, with: "")
        let weights = dir.writeTensors("model.safetensors", unet.flatMap { I.factors($0, prefix: "") },
                                       metadata: [DiffusersLayout.metadataKey: config])
        let source = try AdapterSource.open(weights)
        #expect(source.layout == .diffusers)
        #expect(source.modules.map(\.name) == unet.map(\.path).sorted())
        let scales = Dictionary(uniqueKeysWithValues: source.modules.map { ($0.name, $0.scale) })
        for (module, scale) in zip(I.modules, I.expectedScales) where module.component == "unet" {
            #expect(scales[module.path] == scale)
        }
    }

    @Test func plainPEFTNamesStayPEFT() throws {
        // Keys without a pipeline component and no lora_adapter_metadata are PEFT, as before.
        let dir = TempDir()
        defer { dir.remove() }
        let weights = dir.writeTensors("adapter_model.safetensors",
                                       [F.tensor("base_model.model.q.lora_A.weight", [2, 4], seed: 1),
                                        F.tensor("base_model.model.q.lora_B.weight", [4, 2], seed: 2)])
        dir.write("adapter_config.json", text: #"{"r": 2, "lora_alpha": 4}"#)
        let source = try AdapterSource.open(weights)
        #expect(source.layout == .peft && source.modules.first?.scale == 2)
    }
}
