import Foundation
import Testing
@testable import LoRDBA

@Suite struct ExportTests {
    static let samples = ["minilm-cls-r8", "tiny-llama-lora-f16"]

    /// Converts `input` with a short default pipeline (or plain), returning the `.lba` path.
    static func convert(_ input: String, to output: String, plain: Bool = false, compact: Bool = false,
                        scaleDType: ScaleDType = .f16, binaryRank: BinaryRankChoice = .multiple(1)) throws -> String {
        var options = ConversionOptions()
        options.pipeline = plain ? .plain : PipelineOptions()
        options.pipeline.compactScales = compact
        options.pipeline.scaleDType = scaleDType
        options.pipeline.binaryRank = binaryRank
        options.overwrite = true
        _ = try Converter(options: options).convert(input: input, output: output)
        return output
    }

    static func export(_ lba: String, _ target: ExportTarget, to output: String, dtype: ExportDType = .f32,
                       baseConfig: String? = nil) throws(ExportError) -> ExportReport {
        var options = ExportOptions(target: target)
        options.dtype = dtype
        options.baseConfigPath = baseConfig
        options.architecture = "llama"
        return try Exporter(options: options).export(input: lba, output: output)
    }

    /// Every module of the exported adapter, read back by the converter's own reader (which applies
    /// the target's scaling rules), against the `.lba`'s ΔW: worst relative difference.
    static func worstDifference(exported: String, lba: String) throws -> (Double, Int) {
        let file = try LBAFile(path: lba)
        let source = try AdapterSource.open(exported)
        #expect(source.modules.count == file.adapter.modules.count)
        var worst = 0.0
        for (spec, stored) in zip(source.modules, file.adapter.modules) {
            let module = try source.load(spec)
            let d = DequantizedModule(stored)
            let scaledB = module.b.values.map { $0 * Float(module.scale) }
            let difference = ExportFixtures.relativeDifference(
                b1: scaledB, a1: module.a.values, k1: module.a.rows, b2: d.b, a2: d.a, k2: d.rank,
                out: d.outFeatures, in: d.inFeatures)
            worst = max(worst, difference)
        }
        return (worst, source.modules.count)
    }

    @Test(.tags(.slow), .slowNumeric, arguments: samples, ExportTarget.allCases.filter { $0 != .gguf })
    func exportedProductEqualsTheStoredDelta(sample: String, target: ExportTarget) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = try Self.convert(ReadingFixtures.sample(sample), to: dir.path + "/s.lba")
        let output = dir.path + "/out" + target.fileExtension
        let report = try Self.export(lba, target, to: output)
        let (worst, count) = try Self.worstDifference(exported: output, lba: lba)
        #expect(count == report.modules)
        #expect(worst < 1e-6, "f32 export of \(sample) to \(target): worst relative difference \(worst)")
        // f16 adds one rounding per factor entry.
        let half = try Self.export(lba, target, to: dir.path + "/half" + target.fileExtension, dtype: .f16)
        let (worstHalf, _) = try Self.worstDifference(exported: half.output, lba: lba)
        #expect(worstHalf > 1e-6 && worstHalf < 2e-3, "f16 export of \(sample) to \(target): \(worstHalf)")
    }

    @Test(.tags(.slow), .slowNumeric, arguments: samples)
    func plainRoundTripReproducesTheSigns(sample: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let first = try Self.convert(ReadingFixtures.sample(sample), to: dir.path + "/a.lba", plain: true)
        _ = try Self.export(first, .peft, to: dir.path + "/peft")
        let second = try Self.convert(dir.path + "/peft", to: dir.path + "/b.lba", plain: true)
        let a = try LBAFile(path: first).adapter, b = try LBAFile(path: second).adapter
        #expect(a.modules.count == b.modules.count)
        for (x, y) in zip(a.modules, b.modules) {
            #expect(x.name == y.name)
            #expect(x.signA == y.signA && x.signB == y.signB, "\(x.name): signs changed in the round trip")
        }
        #expect(a.carried.map(\.bytes) == b.carried.map(\.bytes))
    }

    @Test func mixedAdapterRestoresShapesCarriedTensorsAndConfig() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = ExportFixtures.mixedPEFTAdapter(in: dir)
        let lba = try Self.convert(input, to: dir.path + "/m.lba", binaryRank: .multiple(1))   // k = r: 4, and 8 for v_proj
        let file = try LBAFile(path: lba)
        #expect(file.version == LBAVersion(major: 1, minor: 1))
        let q = "base_model.model.model.layers.0.self_attn.q_proj"
        #expect(file.doraMagnitudes == [q: q + ".lora_magnitude_vector"])
        #expect(file.adapter.carried.map { $0.role } == [.modulesToSave, .magnitude])
        #expect(file.adapter.metadata["lordba.tool_version"] == ToolVersion.current)

        let report = try Self.export(lba, .peft, to: dir.path + "/peft")
        #expect(report.carried == 2)
        let exported = try SafeTensorsFile(path: dir.path + "/peft/adapter_model.safetensors")
        let original = try SafeTensorsFile(path: input + "/adapter_model.safetensors")
        for name in ["base_model.model.classifier.weight", q + ".lora_magnitude_vector"] {
            let x = try #require(exported.tensor(named: name)), y = try #require(original.tensor(named: name))
            #expect(exported.rawBytes(x) == original.rawBytes(y) && x.shape == y.shape && x.dtype == y.dtype)
        }
        #expect(exported.tensor(named: "base_model.model.conv.lora_A.weight")?.shape == [4, 3, 3, 3])
        #expect(exported.tensor(named: "base_model.model.conv.lora_B.weight")?.shape == [8, 4, 1, 1])
        #expect(exported.tensor(named: "base_model.model.model.embed_tokens.lora_embedding_A")?.shape == [4, 50])
        #expect(exported.tensor(named: "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight")?.shape == [16, 8])

        let config = try JSONParser.parse(String(contentsOfFile: dir.path + "/peft/adapter_config.json", encoding: .utf8))
        #expect(config["r"] == .integer(4) && config["lora_alpha"] == .integer(4))
        #expect(config["use_dora"] == .bool(true) && config["use_rslora"] == .bool(false))
        #expect(config["rank_pattern"] == .object([("model.layers.0.self_attn.v_proj", .integer(8))]))
        #expect(config["alpha_pattern"] == .object([("model.layers.0.self_attn.v_proj", .integer(8))]))
        #expect(config["modules_to_save"] == .array([.string("classifier")]))
        let (worst, _) = try Self.worstDifference(exported: dir.path + "/peft", lba: lba)
        #expect(worst < 1e-6)

        // kohya keeps conv shapes; MLX and GGUF refuse what they cannot express, naming the module.
        _ = try Self.export(lba, .kohya, to: dir.path + "/k.safetensors")
        let (kohyaWorst, _) = try Self.worstDifference(exported: dir.path + "/k.safetensors", lba: lba)
        #expect(kohyaWorst < 1e-6)
        let mlx = caught { () throws(ExportError) in _ = try Exporter(options: ExportOptions(target: .mlx)).export(input: lba, output: dir.path + "/mlx") }
        #expect(mlx?.description.contains("conv") == true)
        var gguf = ExportOptions(target: .gguf)
        gguf.architecture = "llama"
        let ggufError = caught { () throws(ExportError) in _ = try Exporter(options: gguf).export(input: lba, output: dir.path + "/x.gguf") }
        #expect(ggufError?.description.contains("module") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/mlx") && !FileManager.default.fileExists(atPath: dir.path + "/x.gguf"))
    }

    @Test func mlxPadsMixedRanksAndGGUFScalesEachRank() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let p = "base_model.model.model.layers.0."
        let F = ReadingFixtures.self
        let folder = dir.mkdir("lin")
        TempDirAt(folder).writeTensors("adapter_model.safetensors", [
            F.tensor(p + "self_attn.q_proj.lora_A.weight", [4, 16], seed: 1),
            F.tensor(p + "self_attn.q_proj.lora_B.weight", [16, 4], seed: 2),
            F.tensor(p + "mlp.up_proj.lora_A.weight", [8, 16], seed: 3),
            F.tensor(p + "mlp.up_proj.lora_B.weight", [24, 8], seed: 4),
        ])
        TempDirAt(folder).write("adapter_config.json", text: #"{"r": 4, "lora_alpha": 4, "rank_pattern": {"up_proj": 8}}"#)
        let lba = try Self.convert(folder, to: dir.path + "/l.lba")
        _ = try Self.export(lba, .mlx, to: dir.path + "/mlx")
        let (worst, _) = try Self.worstDifference(exported: dir.path + "/mlx", lba: lba)
        #expect(worst < 1e-6)
        let config = try JSONParser.parse(String(contentsOfFile: dir.path + "/mlx/adapter_config.json", encoding: .utf8))
        #expect(config["lora_parameters"]?["rank"] == .integer(8))

        // GGUF: q needs the head counts; with them, lora_b rows are in llama.cpp's rope order.
        let missing = caught { () throws(ExportError) in _ = try Self.export(lba, .gguf, to: dir.path + "/a.gguf") }
        #expect(missing?.description.contains("--base-config") == true)
        let base = dir.write("config.json", text: #"{"model_type": "llama", "num_attention_heads": 2, "num_key_value_heads": 1}"#)
        _ = try Self.export(lba, .gguf, to: dir.path + "/a.gguf", baseConfig: base)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/a.gguf"))
    }

    /// Non-finite scales never reach a `.lba` (the writer refuses them), so no export can see one.
    @Test func nonFiniteScalesAreRefused() throws {
        var adapter = Fixtures.small()
        adapter.modules[0].scales.middle[0] = .infinity
        #expect(throws: LBAError.self) { try LBAWriter().encode(adapter) }
        adapter.modules[0].scales.middle[0] = .nan
        #expect(throws: LBAError.self) { try LBAWriter().encode(adapter) }
    }

    @Test func ropePermutationMatchesTheReshapeDefinition() {
        // 2 heads, out = 8 (half = 2), one column: row (h, t, j) → (h, j, t).
        let rows: [Float] = (0..<8).map(Float.init)
        let permuted = GGUFExport.ropePermutedRows(rows, rows: 8, cols: 1, heads: 2)
        #expect(permuted == [0, 2, 1, 3, 4, 6, 5, 7])
    }

    @Test func exportRefusesToOverwriteWithoutForceAndNeverReplacesTheInput() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = try Self.convert(ReadingFixtures.sample("minilm-cls-r8"), to: dir.path + "/s.lba", plain: true)
        let existing = dir.write("taken.gguf", text: "keep")
        let error = caught { () throws(ExportError) in _ = try Self.export(lba, .kohya, to: existing) }
        #expect(error == .outputExists(existing))
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep")
        var options = ExportOptions(target: .kohya)
        options.overwrite = true
        let same = caught { () throws(ExportError) in _ = try Exporter(options: options).export(input: lba, output: lba) }
        #expect(same == .outputIsInput(lba))
        // Same input and options: byte-identical output.
        _ = try Self.export(lba, .kohya, to: dir.path + "/1.safetensors")
        _ = try Self.export(lba, .kohya, to: dir.path + "/2.safetensors")
        #expect(FileManager.default.contents(atPath: dir.path + "/1.safetensors") == FileManager.default.contents(atPath: dir.path + "/2.safetensors"))
    }
}
