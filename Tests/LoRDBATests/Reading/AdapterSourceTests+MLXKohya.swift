import Foundation
import Testing
@testable import LoRDBA

/// AdapterSource on MLX-LM and kohya adapters, and how a directory resolves to its weights file.
extension AdapterSourceTests {
    // MARK: - MLX-LM

    /// Writes an MLX-LM file the way MLX does: no header padding, `"__metadata__": null`.
    private func mlxBytes(_ tensors: [F.Tensor]) -> [UInt8] {
        var header = #"{"__metadata__":null"#
        var offset = 0
        var data: [UInt8] = []
        for t in tensors {
            header += #","\#(t.name)":{"dtype":"\#(t.dtype.rawValue)","shape":[\#(t.shape.map(String.init).joined(separator: ","))],"data_offsets":[\#(offset),\#(offset + t.bytes.count)]}"#
            offset += t.bytes.count
            data += t.bytes
        }
        header += "}"
        if (8 + header.utf8.count) % 8 == 0 { header = header.replacingOccurrences(of: "null", with: "null ") }
        return F.raw(header: header, data: data)
    }

    @Test func readsMLXAndMatchesPEFTTwinElementWise() throws {
        let (r, inF, out) = (4, 7, 5)
        let modules = ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"]
        var peft: [F.Tensor] = []
        var mlx: [F.Tensor] = []
        for (i, m) in modules.enumerated() {
            let a = F.values(r * inF, seed: UInt64(10 + i))
            let b = F.values(out * r, seed: UInt64(20 + i))
            peft += [F.tensor("base_model.model.\(m).lora_A.weight", [r, inF], a, .f16),
                     F.tensor("base_model.model.\(m).lora_B.weight", [out, r], b, .f16)]
            mlx += [F.tensor("\(m).lora_a", [inF, r], F.transpose(a, rows: r, cols: inF), .f16),
                    F.tensor("\(m).lora_b", [r, out], F.transpose(b, rows: out, cols: r), .f16)]
        }
        mlx.append(F.tensor("model.layers.0.self_attn.q_proj.m", [out], seed: 5, .f16))
        let peftDir = TempDir()
        defer { peftDir.remove() }
        peftDir.writeTensors("adapter_model.safetensors", peft)
        peftDir.write("adapter_config.json", text: Self.peftConfig(r: r, alpha: "40"))
        let mlxDir = TempDir()
        defer { mlxDir.remove() }
        let mlxFile = mlxDir.write("adapters.safetensors", mlxBytes(mlx))
        mlxDir.write("adapter_config.json", text: #"{"fine_tune_type": "lora", "num_layers": -1, "lora_parameters": {"rank": 4, "scale": 10.0, "dropout": 0.0}}"#)

        let p = try AdapterSource.open(peftDir.path).loadAll()
        let source = try AdapterSource.open(mlxDir.path)
        #expect(source.weightsPath == mlxFile && source.layout == .mlx && source.notes.isEmpty)
        #expect(source.file.headerLength % 8 != 0)
        #expect(source.metadata.isEmpty)
        #expect(source.modules.allSatisfy { $0.transposed && $0.rank == r && $0.inFeatures == inF && $0.outFeatures == out })
        #expect(source.carried.map(\.name) == ["model.layers.0.self_attn.q_proj.m"])
        let m = try source.loadAll()
        #expect(m.modules.count == 2 && p.modules.count == 2)
        for (x, y) in zip(m.modules, p.modules) {
            #expect("base_model.model." + x.name == y.name)
            #expect(x.scale == 10 && y.scale == 10)
            #expect(x.a.rows == r && x.a.cols == inF && x.b.rows == out && x.b.cols == r)
            #expect(x.a.values.map(\.bitPattern) == y.a.values.map(\.bitPattern))
            #expect(x.b.values.map(\.bitPattern) == y.b.values.map(\.bitPattern))
            #expect(x.source.aTensor.hasSuffix(".lora_a") && x.source.dtype == .f16)
        }
    }

    @Test func mlxWithoutConfigUsesDefaultScaleAndSaysSo() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let file = dir.write("adapters.safetensors", mlxBytes([
            F.tensor("model.layers.0.self_attn.v_proj.lora_a", [6, 2], seed: 1),
            F.tensor("model.layers.0.self_attn.v_proj.lora_b", [2, 3], seed: 2),
            F.tensor("model.embed_tokens.lora_a", [40, 2], seed: 3),
            F.tensor("model.embed_tokens.lora_b", [2, 3], seed: 4),
        ]))
        let source = try AdapterSource.open(file)
        #expect(source.configPath == nil)
        #expect(source.modules.allSatisfy { $0.scale == 20 })
        #expect(source.notes.contains { $0.contains("default scale 20.0") })
        #expect(source.modules.map(\.kind) == [.embedding, .linear])
        #expect(source.modules[0].inFeatures == 40 && source.modules[0].outFeatures == 3)

        dir.write("adapter_config.json", text: #"{"fine_tune_type": "lora", "num_layers": 16}"#)
        let withConfig = try AdapterSource.open(file)
        #expect(withConfig.modules.allSatisfy { $0.scale == 20 })
        #expect(withConfig.notes.contains { $0.contains("no lora_parameters") })
    }

    // MARK: - kohya

    @Test func readsKohyaAlphaVariants() throws {
        let dir = TempDir()
        defer { dir.remove() }
        func pair(_ m: String, rank: Int, seed: UInt64) -> [F.Tensor] {
            [F.tensor("\(m).lora_down.weight", [rank, 6], seed: seed, .f16), F.tensor("\(m).lora_up.weight", [5, rank], seed: seed + 1, .f16)]
        }
        let file = dir.writeTensors("lora.safetensors",
            pair("lora_unet_a", rank: 8, seed: 1) + [F.tensor("lora_unet_a.alpha", [], [4], .f16)]
            + pair("lora_unet_b", rank: 4, seed: 3) + [F.tensor("lora_unet_b.alpha", [1], [8], .bf16)]
            + pair("lora_unet_c", rank: 4, seed: 5)
            + pair("lora_unet_d", rank: 4, seed: 7) + [F.tensor("lora_unet_d.alpha", [], [0], .f32)]
            + pair("lora_te_e", rank: 2, seed: 9) + [F.tensor("lora_te_e.alpha", [1], [1], .f64)]
            + [F.tensor("lora_unet_a.dora_scale", [1, 6], seed: 11, .f16)],
            metadata: ["ss_network_dim": "8"])
        let source = try AdapterSource.open(file)
        #expect(source.layout == .kohya && source.configPath == nil)
        #expect(source.modules.map(\.name) == ["lora_te_e", "lora_unet_a", "lora_unet_b", "lora_unet_c", "lora_unet_d"])
        #expect(source.modules.map(\.scale) == [0.5, 0.5, 2, 1, 1])
        #expect(source.modules.map { $0.alphaTensor?.name } == ["lora_te_e.alpha", "lora_unet_a.alpha", "lora_unet_b.alpha", nil, "lora_unet_d.alpha"])
        #expect(source.carried.map(\.name) == ["lora_unet_a.dora_scale"])
        #expect(source.metadata == ["ss_network_dim": "8"])
        #expect(source.notes.contains { $0.contains("1 of 5 kohya module(s) have no alpha") })
        #expect(source.notes.contains { $0.contains("1 kohya module(s) have alpha 0") })
        let loaded = try source.load(source.modules[1])
        #expect(loaded.source.alphaTensor == "lora_unet_a.alpha")
        #expect(loaded.a.values == (try source.file.floats(source.modules[1].aTensor)))
    }

    @Test func flattensKohyaConvolutionsElementWise() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let (r, cin, out) = (3, 2, 4)
        let down = F.values(r * cin * 3 * 3, seed: 1)
        let up = F.values(out * r, seed: 2)
        let file = dir.writeTensors("conv.safetensors", [
            F.tensor("lora_unet_conv.lora_down.weight", [r, cin, 3, 3], down),
            F.tensor("lora_unet_conv.lora_up.weight", [out, r, 1, 1], up),
            F.tensor("lora_unet_conv.alpha", [], [1.5]),
            F.tensor("lora_unet_proj_in.lora_down.weight", [r, 5, 1, 1], seed: 3),
            F.tensor("lora_unet_proj_in.lora_up.weight", [out, r, 1, 1], seed: 4),
            F.tensor("lora_unet_proj_in.alpha", [], [3]),
        ])
        let source = try AdapterSource.open(file)
        let conv = source.modules[0]
        #expect(conv.name == "lora_unet_conv" && conv.kind == .conv(kernel: [3, 3]))
        #expect(conv.rank == r && conv.inFeatures == cin * 9 && conv.outFeatures == out && conv.scale == 0.5)
        let module = try source.load(conv)
        for i in 0..<r {
            for c in 0..<cin {
                for y in 0..<3 {
                    for x in 0..<3 {
                        #expect(module.a[i, c * 9 + y * 3 + x] == down[((i * cin + c) * 3 + y) * 3 + x])
                    }
                }
            }
        }
        for o in 0..<out { for i in 0..<r { #expect(module.b[o, i] == up[o * r + i]) } }
        let oneByOne = source.modules[1]
        #expect(oneByOne.kind == .conv(kernel: [1, 1]) && oneByOne.inFeatures == 5 && oneByOne.scale == 1)
        #expect(try source.load(oneByOne).a.cols == 5)
    }

    // MARK: - Input resolution

    @Test func resolvesWeightsFileInDirectories() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let tensors = [F.tensor("x.lora_down.weight", [1, 2], [1, 2]), F.tensor("x.lora_up.weight", [2, 1], [3, 4])]
        let single = dir.mkdir("single")
        dir.writeTensors("single/my_lora.safetensors", tensors)
        dir.write("single/notes.txt", text: "not weights")
        #expect(try AdapterSource.open(single).weightsPath == single + "/my_lora.safetensors")

        let both = dir.mkdir("both")
        dir.writeTensors("both/adapters.safetensors", tensors)
        dir.writeTensors("both/0000100_adapters.safetensors", tensors)
        #expect(try AdapterSource.open(both + "/").weightsPath == both + "/adapters.safetensors")
        dir.writeTensors("both/adapter_model.safetensors", tensors)
        #expect(try AdapterSource.open(both).weightsPath == both + "/adapter_model.safetensors")
    }
}
