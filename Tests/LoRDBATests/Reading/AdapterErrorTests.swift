import Foundation
import Testing
@testable import LoRDBA

/// Every way an adapter can be refused gives one line naming the file, the tensor or field, and the problem.
@Suite struct AdapterErrorTests {
    typealias F = ReadingFixtures

    private func openError(_ input: String, configPath: String? = nil) -> AdapterError? {
        caught { () throws(AdapterError) in try AdapterSource.open(input, configPath: configPath) }
    }

    /// A fresh PEFT directory inside `root` with the given tensors and a config (by default r 4, alpha 8);
    /// returns the directory and the weights path.
    private func peftDir(_ root: TempDir, _ tensors: [F.Tensor], config: String? = #"{"r": 4, "lora_alpha": 8}"#) -> (String, String) {
        let name = "peft\(UUID().uuidString.prefix(8))"
        let dir = root.mkdir(name)
        let weights = root.writeTensors("\(name)/adapter_model.safetensors", tensors)
        if let config { root.write("\(name)/adapter_config.json", text: config) }
        return (dir, weights)
    }

    private let a = "base_model.model.q.lora_A.weight"
    private let b = "base_model.model.q.lora_B.weight"

    @Test func missingInput() {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.path + "/nope.safetensors"
        let error = openError(path)
        #expect(error == .missingInput(path: path))
        expectOneLine(error!.description, file: path, subject: nil, mentions: "no such file")
        let missingConfig = dir.path + "/nope.json"
        let weights = dir.writeTensors("w.safetensors", [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 4], seed: 2)])
        let e2 = openError(weights, configPath: missingConfig)
        #expect(e2 == .unreadableConfig(path: missingConfig, reason: "no such file or directory"))
        expectOneLine(e2!.description, file: missingConfig, subject: nil)
    }

    @Test func directoryWithoutOrWithAmbiguousWeights() {
        let dir = TempDir()
        defer { dir.remove() }
        let empty = dir.mkdir("empty")
        dir.write("empty/adapter_config.json", text: "{}")
        let e1 = openError(empty)
        #expect(e1 == .noWeightsFile(directory: empty))
        expectOneLine(e1!.description, file: empty, subject: nil, mentions: "no .safetensors")

        let two = dir.mkdir("two")
        dir.writeTensors("two/a.safetensors", [])
        dir.writeTensors("two/b.safetensors", [])
        let e2 = openError(two)
        #expect(e2 == .ambiguousWeightsFile(directory: two, candidates: ["a.safetensors", "b.safetensors"]))
        expectOneLine(e2!.description, file: two, subject: nil, mentions: "a.safetensors, b.safetensors")
    }

    @Test func invalidSafetensorsIsWrapped() {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.write("adapter_model.safetensors", F.raw(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        let error = openError(dir.path)
        #expect(error == .safetensors(.sizeMismatch(path: path, tensor: "w", expectedBytes: 8, actualBytes: 4)))
        expectOneLine(error!.description, file: path, subject: "w", mentions: "need 8")
    }

    @Test func noLoRATensorsAtAll() {
        let root = TempDir()
        defer { root.remove() }
        let (_, weights) = peftDir(root, [F.tensor("classifier.weight", [2, 3], seed: 1), F.tensor("lora_A.weight", [2, 3], seed: 2)])
        let error = openError(weights)
        #expect(error == .noLoRATensors(path: weights, tensorCount: 2))
        expectOneLine(error!.description, file: weights, subject: nil, mentions: "lora_A.weight")
        let (_, empty) = peftDir(root, [])
        #expect(openError(empty) == .noLoRATensors(path: empty, tensorCount: 0))
    }

    @Test func aWithoutBAndBWithoutA() {
        let root = TempDir()
        defer { root.remove() }
        let (_, w1) = peftDir(root, [F.tensor(a, [4, 3], seed: 1)])
        let e1 = openError(w1)
        #expect(e1 == .unpaired(path: w1, tensor: a, missing: b))
        expectOneLine(e1!.description, file: w1, subject: a, mentions: b)

        let (_, w2) = peftDir(root, [F.tensor("x.lora_up.weight", [3, 4], seed: 1)])
        let e2 = openError(w2)
        #expect(e2 == .unpaired(path: w2, tensor: "x.lora_up.weight", missing: "x.lora_down.weight"))
        expectOneLine(e2!.description, file: w2, subject: "x.lora_up.weight", mentions: "x.lora_down.weight")

        // An embedding A does not pair with a linear B of the same module.
        let (_, w3) = peftDir(root, [F.tensor("e.lora_embedding_A", [4, 9], seed: 1), F.tensor("e.lora_B.weight", [3, 4], seed: 2)])
        #expect(openError(w3) == .unpaired(path: w3, tensor: "e.lora_B.weight", missing: "e.lora_A.weight"))
    }

    @Test func rankMismatchBetweenAAndB() {
        let root = TempDir()
        defer { root.remove() }
        let (_, weights) = peftDir(root, [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 8], seed: 2)])
        let error = openError(weights)
        #expect(error == .rankMismatch(path: weights, tensor: b, rank: 8, other: a, otherRank: 4))
        expectOneLine(error!.description, file: weights, subject: b, mentions: "rank 8 disagrees with rank 4")
        let mlx = TempDir()
        defer { mlx.remove() }
        let file = mlx.writeTensors("adapters.safetensors", [F.tensor("m.lora_a", [3, 4], seed: 1), F.tensor("m.lora_b", [2, 5], seed: 2)])
        #expect(openError(file) == .rankMismatch(path: file, tensor: "m.lora_b", rank: 2, other: "m.lora_a", otherRank: 4))
    }

    @Test func rankZero() {
        let root = TempDir()
        defer { root.remove() }
        let (_, weights) = peftDir(root, [F.tensor(a, [0, 3], []), F.tensor(b, [2, 0], [])])
        let error = openError(weights)
        #expect(error == .zeroRank(path: weights, tensor: a, shape: [0, 3]))
        expectOneLine(error!.description, file: weights, subject: a, mentions: "rank is 0")
        let (_, w2) = peftDir(root, [F.tensor(a, [4, 0], []), F.tensor(b, [2, 4], seed: 1)])
        #expect(openError(w2) == .wrongShape(path: w2, tensor: a, shape: [4, 0], expected: "a non-zero input size"))
    }

    @Test func wrongNumberOfDimensions() {
        let root = TempDir()
        defer { root.remove() }
        let (_, w1) = peftDir(root, [F.tensor(a, [12], seed: 1), F.tensor(b, [2, 4], seed: 2)])
        let e1 = openError(w1)
        guard case .wrongShape(w1, a, [12], _)? = e1 else { Issue.record("\(String(describing: e1))"); return }
        expectOneLine(e1!.description, file: w1, subject: a, mentions: "[12]")

        let (_, w2) = peftDir(root, [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 4, 1, 1], seed: 2)])
        let e2 = openError(w2)
        guard case .wrongShape(w2, b, [2, 4, 1, 1], _)? = e2 else { Issue.record("\(String(describing: e2))"); return }
        expectOneLine(e2!.description, file: w2, subject: b, mentions: "[out, r]")

        // A conv up-projection must be 1×1.
        let (_, w3) = peftDir(root, [F.tensor(a, [4, 3, 3, 3], seed: 1), F.tensor(b, [2, 4, 3, 3], seed: 2)])
        guard case .wrongShape(w3, b, [2, 4, 3, 3], _)? = openError(w3) else { Issue.record("conv B"); return }

        let (_, w4) = peftDir(root, [F.tensor("e.lora_embedding_A", [4, 9, 1], seed: 1), F.tensor("e.lora_embedding_B", [3, 4], seed: 2)])
        guard case .wrongShape(w4, "e.lora_embedding_A", [4, 9, 1], _)? = openError(w4) else { Issue.record("embedding A"); return }

        // MLX SwitchLinear (MoE) factors are 3-D.
        let mlx = TempDir()
        defer { mlx.remove() }
        let file = mlx.writeTensors("adapters.safetensors", [F.tensor("m.lora_a", [2, 4, 3], seed: 1), F.tensor("m.lora_b", [2, 5, 4], seed: 2)])
        let e5 = openError(file)
        guard case .wrongShape(file, "m.lora_a", [2, 4, 3], let expected)? = e5 else { Issue.record("\(String(describing: e5))"); return }
        #expect(expected.contains("SwitchLinear"))
    }

    @Test func nonFloatLoRADType() {
        let root = TempDir()
        defer { root.remove() }
        let (_, weights) = peftDir(root, [F.tensor(a, [4, 3], seed: 1), (b, .i8, [2, 4], [UInt8](repeating: 1, count: 8))])
        let error = openError(weights)
        #expect(error == .unsupportedDType(path: weights, tensor: b, dtype: .i8))
        expectOneLine(error!.description, file: weights, subject: b, mentions: "I8")
        let (_, w2) = peftDir(root, [(a, .f8e4m3, [4, 3], [UInt8](repeating: 0, count: 12)), F.tensor(b, [2, 4], seed: 2)])
        #expect(openError(w2) == .unsupportedDType(path: w2, tensor: a, dtype: .f8e4m3))
    }

    @Test func peftWithoutConfigNamesLoraAlpha() {
        let root = TempDir()
        defer { root.remove() }
        let (_, weights) = peftDir(root, [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 4], seed: 2)], config: nil)
        let error = openError(weights)
        guard case .missingConfigField(weights, "lora_alpha", _)? = error else { Issue.record("\(String(describing: error))"); return }
        expectOneLine(error!.description, file: weights, subject: "lora_alpha", mentions: "adapter_config.json")
        // It says how to give the config when it lives elsewhere.
        #expect(error!.description.hasSuffix("give it with --config PATH"))

        let (dir, w2) = peftDir(root, [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 4], seed: 2)], config: #"{"r": 4}"#)
        let config = dir + "/adapter_config.json"
        let e2 = openError(w2)
        guard case .missingConfigField(config, "lora_alpha", _)? = e2 else { Issue.record("\(String(describing: e2))"); return }
        expectOneLine(e2!.description, file: config, subject: "lora_alpha", mentions: "missing")
    }

    @Test func rankPatternDisagreeingWithTensor() {
        let root = TempDir()
        defer { root.remove() }
        let tensors = [F.tensor("base_model.model.model.layers.0.q_proj.lora_A.weight", [8, 3], seed: 1),
                       F.tensor("base_model.model.model.layers.0.q_proj.lora_B.weight", [2, 8], seed: 2)]
        let (_, weights) = peftDir(root, tensors, config: #"{"r": 8, "lora_alpha": 8, "rank_pattern": {"q_proj": 4}}"#)
        let error = openError(weights)
        let tensor = "base_model.model.model.layers.0.q_proj.lora_A.weight"
        #expect(error == .configRankMismatch(path: weights, tensor: tensor, configRank: 4, tensorRank: 8, source: "rank_pattern[\"q_proj\"]"))
        expectOneLine(error!.description, file: weights, subject: tensor, mentions: "rank_pattern[\"q_proj\"] = 4")
        let (_, w2) = peftDir(root, tensors, config: #"{"r": 16, "lora_alpha": 8}"#)
        #expect(openError(w2) == .configRankMismatch(path: w2, tensor: tensor, configRank: 16, tensorRank: 8, source: "r"))
    }

    @Test func badConfigs() {
        let root = TempDir()
        defer { root.remove() }
        let tensors = [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 4], seed: 2)]
        let cases: [(String, String?)] = [
            (#"{"r": 4, "lora_alpha": 8"#, nil),
            ("[1]", nil),
            (#"{"r": 4, "lora_alpha": 8, "r": 4}"#, "r"),
            (#"{"r": 4, "lora_alpha": "8"}"#, "lora_alpha"),
            (#"{"r": 0, "lora_alpha": 8}"#, "r"),
            (#"{"r": 4, "lora_alpha": 8, "use_rslora": "yes"}"#, "use_rslora"),
            (#"{"r": 4, "lora_alpha": 8, "rank_pattern": [1]}"#, "rank_pattern"),
            (#"{"r": 4, "lora_alpha": 8, "rank_pattern": {"q": 2.5}}"#, #"rank_pattern["q"]"#),
            (#"{"r": 4, "lora_alpha": 8, "alpha_pattern": {"(q": 2}}"#, #"alpha_pattern["(q"]"#),
            (#"{"peft_type": "LOHA", "r": 4, "lora_alpha": 8}"#, "peft_type"),
        ]
        for (text, field) in cases {
            let (dir, weights) = peftDir(root, tensors, config: text)
            let config = dir + "/adapter_config.json"
            guard let error = openError(weights) else { Issue.record("accepted \(text)"); continue }
            #expect(error.file == config && error.subject == field, "\(text): \(error)")
            expectOneLine(error.description, file: config, subject: field)
        }
        let mlx = TempDir()
        defer { mlx.remove() }
        let file = mlx.writeTensors("adapters.safetensors", [F.tensor("m.lora_a", [3, 2], seed: 1), F.tensor("m.lora_b", [2, 5], seed: 2)])
        let config = mlx.write("adapter_config.json", text: #"{"lora_parameters": {"scale": "big"}}"#)
        #expect(openError(file) == .invalidConfig(path: config, field: "lora_parameters.scale", problem: "must be a number, found string"))
    }

    @Test func mixedLayoutsAndConflictingTensors() {
        let root = TempDir()
        defer { root.remove() }
        let (_, weights) = peftDir(root, [F.tensor(a, [4, 3], seed: 1), F.tensor(b, [2, 4], seed: 2),
                                    F.tensor("k.lora_down.weight", [4, 3], seed: 3)])
        let error = openError(weights)
        #expect(error == .mixedLayouts(path: weights, tensor: "k.lora_down.weight", layouts: [.peft, .kohya]))
        expectOneLine(error!.description, file: weights, subject: "k.lora_down.weight", mentions: "peft, kohya")

        let (_, w2) = peftDir(root, [F.tensor("q.lora_A.weight", [4, 3], seed: 1), F.tensor("q.lora_B.weight", [2, 4], seed: 2),
                               F.tensor("q.lora_embedding_A", [4, 3], seed: 3), F.tensor("q.lora_embedding_B", [2, 4], seed: 4)])
        #expect(openError(w2) == .conflictingTensors(path: w2, tensor: "q.lora_embedding_A", other: "q.lora_A.weight"))
    }

    @Test func invalidKohyaAlpha() {
        let dir = TempDir()
        defer { dir.remove() }
        let pair = [F.tensor("k.lora_down.weight", [4, 3], seed: 1), F.tensor("k.lora_up.weight", [2, 4], seed: 2)]
        let f1 = dir.writeTensors("a1.safetensors", pair + [F.tensor("k.alpha", [2], [1, 2])])
        let e1 = openError(f1)
        guard case .invalidAlpha(f1, "k.alpha", _)? = e1 else { Issue.record("\(String(describing: e1))"); return }
        expectOneLine(e1!.description, file: f1, subject: "k.alpha", mentions: "[2]")
        let f2 = dir.writeTensors("a2.safetensors", pair + [("k.alpha", .i64, [], [4, 0, 0, 0, 0, 0, 0, 0])])
        guard case .invalidAlpha(f2, "k.alpha", _)? = openError(f2) else { Issue.record("integer alpha"); return }
        let f3 = dir.writeTensors("a3.safetensors", pair + [F.tensor("k.alpha", [], [.nan])])
        guard case .invalidAlpha(f3, "k.alpha", _)? = openError(f3) else { Issue.record("NaN alpha"); return }
    }

    @Test func nanAndInfinityAreRejectedOnLoadNamingTensorAndElement() throws {
        let root = TempDir()
        defer { root.remove() }
        var aValues = F.values(12, seed: 1)
        aValues[7] = .nan
        var bValues = F.values(8, seed: 2)
        bValues[5] = -.infinity
        let (_, weights) = peftDir(root, [F.tensor(a, [4, 3], aValues, .f16), F.tensor(b, [2, 4], F.values(8, seed: 2), .bf16),
                                    F.tensor("base_model.model.k.lora_A.weight", [4, 3], seed: 3),
                                    F.tensor("base_model.model.k.lora_B.weight", [2, 4], bValues)])
        let source = try AdapterSource.open(weights)
        let e1 = caught { () throws(AdapterError) in try source.load(source.modules[1]) }
        guard case .nonFinite(weights, a, [2, 1], let v)? = e1, v.isNaN else { Issue.record("\(String(describing: e1))"); return }
        expectOneLine(e1!.description, file: weights, subject: a, mentions: "element [2, 1] is NaN")
        let e2 = caught { () throws(AdapterError) in try source.load(source.modules[0]) }
        #expect(e2 == .nonFinite(path: weights, tensor: "base_model.model.k.lora_B.weight", position: [1, 1], value: -.infinity))
        expectOneLine(e2!.description, file: weights, subject: "base_model.model.k.lora_B.weight", mentions: "-infinity")
        #expect(caught { () throws(AdapterError) in try source.loadAll() } != nil)
    }

    @Test func f64BeyondFloatRangeIsRejected() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var values = [Double](repeating: 0.5, count: 12)
        values[4] = 1e300
        let weights = dir.writeTensors("adapter_model.safetensors", [
            (a, .f64, [4, 3], SafeTensorsWriter.encode(values, as: .f64)), F.tensor(b, [2, 4], seed: 2)])
        dir.write("adapter_config.json", text: #"{"r": 4, "lora_alpha": 8}"#)
        let source = try AdapterSource.open(weights)
        let error = caught { () throws(AdapterError) in try source.load(source.modules[0]) }
        #expect(error == .outOfFloatRange(path: weights, tensor: a, position: [1, 1], value: 1e300))
        expectOneLine(error!.description, file: weights, subject: a, mentions: "beyond the range of Float")
    }
}
