import Testing
@testable import LoRDBA

/// Pickled checkpoints and non-LoRA adapters are refused with a message saying what they are.
@Suite struct RefusedInputTests {
    typealias F = ReadingFixtures

    func openError(_ path: String) -> AdapterError? {
        caught { () throws(AdapterError) in try AdapterSource.open(path) }
    }

    static func command(_ input: String, _ output: String) -> String {
        "python -c \"import torch, safetensors.torch as st; st.save_file({k: v.detach().clone().contiguous() for k, v in torch.load('\(input)', map_location='cpu', weights_only=True).items()}, '\(output)')\""
    }

    // MARK: - Pickles

    @Test func zipCheckpointInAFolderIsRefusedWithTheConversionCommand() {
        let dir = TempDir()
        defer { dir.remove() }
        let folder = dir.mkdir("adapter")
        dir.write("adapter/adapter_config.json", text: "{}")
        let bin = dir.write("adapter/adapter_model.bin", [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00])
        let error = openError(folder)
        #expect(error == .pickledCheckpoint(path: bin, evidence: "the file is a zip archive (torch.save format)"))
        #expect(error?.description == "\(bin): the file is a zip archive (torch.save format): a pickled PyTorch checkpoint, which is not loaded because unpickling can run arbitrary code; convert it to safetensors once, where you trust it, with: "
                + Self.command(bin, folder + "/adapter_model.safetensors"))
        #expect(error?.description.contains("\n") == false)
        // Given directly, the same file gets the same error.
        #expect(openError(bin) == error)
    }

    @Test func rawPickleStreamsAndPickleNamesAreRefused() {
        let dir = TempDir()
        defer { dir.remove() }
        // Protocol 2 (torch.save before 1.6 / legacy) and protocol 4, whatever the file is named.
        let legacy = dir.write("lora.pt", [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20])
        #expect(openError(legacy) == .pickledCheckpoint(path: legacy, evidence: "the file is a pickle stream (protocol 2)"))
        let renamed = dir.write("weights.safetensors", [0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0x7D])
        #expect(openError(renamed) == .pickledCheckpoint(path: renamed, evidence: "the file is a pickle stream (protocol 4)"))
        // Unknown content under a checkpoint name.
        let ckpt = dir.write("model.ckpt", Array("not a checkpoint".utf8))
        #expect(openError(ckpt) == .pickledCheckpoint(path: ckpt, evidence: "the file is named .ckpt"))
        #expect(openError(ckpt)?.description.contains(Self.command(ckpt, dir.path + "/model.safetensors")) == true)
        // A path the shell or Python would misread leaves IN/OUT placeholders.
        let quoted = dir.write("it's.bin", [0x80, 0x05, 0x95])
        #expect(openError(quoted)?.description.hasSuffix(Self.command("IN", "OUT.safetensors")) == true)
    }

    @Test func safetensorsUnderAPickleNameStillOpens() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.writeTensors("adapter.bin", [F.tensor("m.lora_down.weight", [2, 4], seed: 1),
                                                    F.tensor("m.lora_up.weight", [4, 2], seed: 2)])
        let source = try AdapterSource.open(path)
        #expect(source.layout == .kohya && source.modules.count == 1)
    }

    // MARK: - Other algorithms

    @Test func lohaAndLokrAreNamed() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let module = "lora_unet_mid_block_attentions_0_proj_in"
        let loha = dir.writeTensors("loha.safetensors", [
            F.tensor(module + ".alpha", [], [4]),
            F.tensor(module + ".hada_w1_a", [8, 4], seed: 1), F.tensor(module + ".hada_w1_b", [4, 8], seed: 2),
            F.tensor(module + ".hada_w2_a", [8, 4], seed: 3), F.tensor(module + ".hada_w2_b", [4, 8], seed: 4),
        ])
        let e1 = openError(loha)
        #expect(e1 == .notLoRA(path: loha, tensor: module + ".hada_w1_a", algorithm: "LoHa"))
        #expect(e1?.description == "\(loha): \(module).hada_w1_a: LoHa tensor: this adapter is LoHa, not LoRA; only adapters made of LoRA factor pairs (A/B or down/up) can be converted")

        let lokr = dir.writeTensors("lokr.safetensors", [
            F.tensor(module + ".alpha", [], [4]),
            F.tensor(module + ".lokr_w1", [4, 4], seed: 1),
            F.tensor(module + ".lokr_w2_a", [2, 2], seed: 2), F.tensor(module + ".lokr_w2_b", [2, 2], seed: 3),
        ])
        #expect(openError(lokr) == .notLoRA(path: lokr, tensor: module + ".lokr_w1", algorithm: "LoKr"))
        let inspected = try Inspector.describe(lokr)
        #expect(inspected.hasSuffix("\nnot convertible: \(module).lokr_w1: LoKr tensor: this adapter is LoKr, not LoRA; only adapters made of LoRA factor pairs (A/B or down/up) can be converted"))

        // A LoHa module beside LoRA pairs still refuses the file (it would otherwise be dropped silently).
        let mixed = dir.writeTensors("mixed.safetensors", [
            F.tensor("lora_unet_a.lora_down.weight", [2, 4], seed: 1), F.tensor("lora_unet_a.lora_up.weight", [4, 2], seed: 2),
            F.tensor("lora_unet_b.hada_w1_a", [8, 4], seed: 3),
        ])
        #expect(openError(mixed) == .notLoRA(path: mixed, tensor: "lora_unet_b.hada_w1_a", algorithm: "LoHa"))
    }

    @Test func ia3GloraAndOthersAreNamed() {
        let dir = TempDir()
        defer { dir.remove() }
        let ia3 = dir.writeTensors("ia3.safetensors", [F.tensor("base_model.model.layers.0.k_proj.ia3_l", [8, 1], seed: 1)])
        #expect(openError(ia3) == .notLoRA(path: ia3, tensor: "base_model.model.layers.0.k_proj.ia3_l", algorithm: "IA3 ((IA)³)"))
        let lycorisIA3 = dir.writeTensors("ia3l.safetensors", [F.tensor("lora_te_x.weight", [8], seed: 1), F.tensor("lora_te_x.on_input", [], [1])])
        #expect(openError(lycorisIA3) == .notLoRA(path: lycorisIA3, tensor: "lora_te_x.on_input", algorithm: "IA3 ((IA)³)"))
        let glora = dir.writeTensors("glora.safetensors", ["a1", "a2", "b1", "b2"].map { F.tensor("lora_unet_x.\($0).weight", [2, 2], seed: 1) })
        #expect(openError(glora) == .notLoRA(path: glora, tensor: "lora_unet_x.a1.weight", algorithm: "GLoRA"))
        let full = dir.writeTensors("full.safetensors", [F.tensor("lora_unet_x.diff", [4, 4], seed: 1)])
        #expect(openError(full) == .notLoRA(path: full, tensor: "lora_unet_x.diff", algorithm: "full weight-diff (LyCORIS full)"))
        // A module merely named like a marker, inside a LoRA key, is no false alarm.
        let named = dir.writeTensors("named.safetensors", [F.tensor("lora_unet_diff.lora_down.weight", [2, 4], seed: 1),
                                                           F.tensor("lora_unet_diff.lora_up.weight", [4, 2], seed: 2)])
        #expect(openError(named) == nil)
    }

    @Test func kohyaDoRAScalesAreCarriedAsMagnitudes() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.writeTensors("dora.safetensors", [
            F.tensor("lora_unet_x.alpha", [], [1]),
            F.tensor("lora_unet_x.dora_scale", [1, 4], seed: 3),
            F.tensor("lora_unet_x.lora_down.weight", [2, 4], seed: 1), F.tensor("lora_unet_x.lora_up.weight", [6, 2], seed: 2),
        ])
        let source = try AdapterSource.open(path)
        #expect(source.layout == .kohya && source.modules.count == 1 && source.modules[0].scale == 0.5)
        #expect(source.carried.map(\.name) == ["lora_unet_x.dora_scale"])
        #expect(source.notes == ["1 DoRA magnitude tensor(s) (kohya dora_scale / PEFT lora_magnitude_vector) carried unchanged"])
        let adapter = try source.loadAll()
        #expect(adapter.carried.first?.bytes == SafeTensorsWriter.encode(F.values(4, seed: 3), as: .f32))
    }
}
