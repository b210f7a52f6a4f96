import Foundation
import Testing
@testable import LoRDBA

/// `lordba-validate --reference [--base]` on a synthetic DoRA adapter: the magnitude must be the
/// reference's, and with the base weights the fidelity is that of the whole DoRA layer.
@Suite struct DoRAValidationTests {
    static let q = "base_model.model.model.layers.0.self_attn.q_proj"
    static let v = "base_model.model.model.layers.0.self_attn.v_proj"

    /// A PEFT adapter: `q_proj` DoRA (magnitude seeded `magnitudeSeed`), `v_proj` plain LoRA.
    static func adapter(in dir: TempDir, name: String, magnitudeSeed: UInt64 = 3) -> String {
        let folder = dir.mkdir(name)
        let F = ReadingFixtures.self
        let magnitude = F.values(16, seed: magnitudeSeed).map { 1 + abs($0) }
        TempDirAt(folder).writeTensors("adapter_model.safetensors", [
            F.tensor(q + ".lora_A.weight", [4, 24], seed: 1),
            F.tensor(q + ".lora_B.weight", [16, 4], seed: 2),
            F.tensor(q + ".lora_magnitude_vector", [16], magnitude),
            F.tensor(v + ".lora_A.weight", [4, 24], seed: 4),
            F.tensor(v + ".lora_B.weight", [8, 4], seed: 5),
        ])
        TempDirAt(folder).write("adapter_config.json", text: #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_dora": true, "target_modules": ["q_proj", "v_proj"]}"#)
        return folder
    }

    /// The base model's weights for both modules (only q's is needed).
    static func base(in dir: TempDir, withQ: Bool = true) -> String {
        let F = ReadingFixtures.self
        var tensors = [F.tensor("model.layers.0.self_attn.v_proj.weight", [8, 24], seed: 11)]
        if withQ { tensors.append(F.tensor("model.layers.0.self_attn.q_proj.weight", [16, 24], seed: 10)) }
        return dir.writeTensors(withQ ? "base.safetensors" : "base-no-q.safetensors", tensors)
    }

    static func options(reference: String, base: String?) -> ValidationOptions {
        var o = ValidatorFixtures.options(tokens: 64, reference: false)
        o.referencePath = reference
        o.basePath = base
        return o
    }

    @Test func withoutBaseOnlyTheDirectionIsCompared() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir, name: "dora")
        let lba = try ExportTests.convert(input, to: dir.path + "/d.lba")
        let result = try Validator.validate(path: lba, options: Self.options(reference: input, base: nil))
        let q = try #require(result.modules.first { $0.name == Self.q })
        let dora = try #require(q.dora)
        #expect(dora.magnitude == Self.q + ".lora_magnitude_vector" && !dora.normsApplied && dora.normDifference == nil)
        #expect(q.fidelity == dora.deltaFidelity)
        #expect(result.modules.first { $0.name == Self.v }?.dora == nil)
        let text = ValidationReport.text(result)
        #expect(text.contains("without --base the norm rescaling") && text.contains("ΔW only"))
        let json = ValidationReport.json(result)
        let qJSON = json["modules"]?.arrayValue?.first { $0["name"] == .string(Self.q) }
        #expect(qJSON?["dora"]?["norms_applied"] == .bool(false))
        #expect(json["modules"]?.arrayValue?.first { $0["name"] == .string(Self.v) }?["dora"] == .null)
    }

    @Test func withBaseTheWholeLayerEffectIsMeasured() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir, name: "dora")
        let lba = try ExportTests.convert(input, to: dir.path + "/d.lba")
        let options = Self.options(reference: input, base: Self.base(in: dir))
        let result = try Validator.validate(path: lba, options: options)
        let q = try #require(result.modules.first { $0.name == Self.q })
        let dora = try #require(q.dora)
        #expect(dora.normsApplied && dora.normDifference != nil)
        #expect(ValidationReport.text(result).contains("whole DoRA layer"))

        // Independently, densely: E = X·(W' − W₀)ᵀ with W' = diag(g/‖W₀ + ΔW‖)(W₀ + ΔW), both sides.
        let file = try LBAFile(path: lba)
        let stored = try #require(file.adapter.modules.first { $0.name == Self.q })
        let d = DequantizedModule(stored)
        let source = try AdapterSource.open(input)
        let lora = try source.load(try #require(source.modules.first { $0.name == Self.q }))
        let w0 = ReadingFixtures.values(16 * 24, seed: 10).map(Double.init)
        let g = ReadingFixtures.values(16, seed: 3).map { 1 + abs(Double($0)) }
        func adapted(_ delta: (Int, Int) -> Double) -> [Double] {
            var w = (0..<(16 * 24)).map { w0[$0] + delta($0 / 24, $0 % 24) }
            for o in 0..<16 {
                let norm = (0..<24).reduce(0.0) { $0 + w[o * 24 + $1] * w[o * 24 + $1] }.squareRoot()
                for c in 0..<24 { w[o * 24 + c] *= g[o] / norm }
            }
            return w
        }
        let wLBA = adapted { o, c in (0..<d.rank).reduce(0.0) { $0 + Double(d.b[o * d.rank + $1]) * Double(d.a[$1 * 24 + c]) } }
        let wLoRA = adapted { o, c in
            lora.scale * (0..<lora.a.rows).reduce(0.0) { $0 + Double(lora.b.values[o * lora.a.rows + $1]) * Double(lora.a.values[$1 * 24 + c]) }
        }
        var cache = InputCache(tokens: options.tokens, seed: options.seed)
        let x = cache.inputs(width: 24).0
        var difference = 0.0, energy = 0.0
        for t in 0..<options.tokens {
            for o in 0..<16 {
                var e1 = 0.0, e2 = 0.0
                for c in 0..<24 {
                    let xc = Double(x[t * 24 + c])
                    e1 += (wLBA[o * 24 + c] - w0[o * 24 + c]) * xc
                    e2 += (wLoRA[o * 24 + c] - w0[o * 24 + c]) * xc
                }
                difference += (e1 - e2) * (e1 - e2)
                energy += e2 * e2
            }
        }
        let expected = (difference / energy).squareRoot()
        let fidelity = try #require(q.fidelity)
        #expect(abs(fidelity - expected) <= 1e-4 * expected, "fidelity \(fidelity), dense \(expected)")
        #expect(abs(fidelity - dora.deltaFidelity) > 1e-3 * expected, "the DoRA fidelity must differ from the ΔW-only one")
    }

    @Test func aDifferentMagnitudeOrADroppedOneIsAReferenceMismatch() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir, name: "dora")
        let lba = try ExportTests.convert(input, to: dir.path + "/d.lba")
        let other = Self.adapter(in: dir, name: "other", magnitudeSeed: 30)
        let e1 = caught { () throws(ValidatorError) in try Validator.validate(path: lba, options: Self.options(reference: other, base: nil)) }
        guard case .referenceMismatch(_, let module, let problem)? = e1 else { Issue.record("got \(String(describing: e1))"); return }
        #expect(module == Self.q && problem.contains("magnitude"))

        var dropping = ConversionOptions()
        dropping.pipeline = .plain
        dropping.dropExtra = true
        _ = try Converter(options: dropping).convert(input: input, output: dir.path + "/plain.lba")
        let e2 = caught { () throws(ValidatorError) in
            try Validator.validate(path: dir.path + "/plain.lba", options: Self.options(reference: input, base: nil))
        }
        guard case .referenceMismatch(_, _, let problem2)? = e2 else { Issue.record("got \(String(describing: e2))"); return }
        #expect(problem2.contains("plain LoRA"))
    }

    @Test func commandLineTakesBase() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir, name: "dora")
        let lba = try ExportTests.convert(input, to: dir.path + "/d.lba")
        let tool = Tool(name: "lordba-validate")
        let base = Self.base(in: dir)
        let ok = try tool.run([lba, "--reference", input, "--base", base, "--no-timing", "--tokens", "16", "--json", "-"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let json = try JSONParser.parse(ok.stdout)
        #expect(json["base"] == .string(base))
        let q = json["modules"]?.arrayValue?.first { $0["name"] == .string(Self.q) }
        #expect(q?["dora"]?["norms_applied"] == .bool(true))
        let usage = try tool.run([lba, "--base", base, "--no-timing"])
        #expect(usage.status == 64 && usage.stderr.contains("--base needs --reference"))
    }

    @Test func baseProblemsAreOneLineErrorsNamingTheModule() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir, name: "dora")
        let lba = try ExportTests.convert(input, to: dir.path + "/d.lba")
        let e1 = caught { () throws(ValidatorError) in
            try Validator.validate(path: lba, options: Self.options(reference: input, base: Self.base(in: dir, withQ: false)))
        }
        guard case .base(_, let module, _)? = e1 else { Issue.record("got \(String(describing: e1))"); return }
        #expect(module == Self.q && e1!.description.contains("model.layers.0.self_attn.q_proj.weight") && !e1!.description.contains("\n"))
        let e2 = caught { () throws(ValidatorError) in
            try Validator.validate(path: lba, options: Self.options(reference: input, base: dir.path + "/missing"))
        }
        #expect(e2?.description.hasPrefix(dir.path + "/missing: ") == true)
        var noReference = Self.options(reference: input, base: Self.base(in: dir))
        noReference.referencePath = nil
        let e3 = caught { () throws(ValidatorError) in try Validator.validate(path: lba, options: noReference) }
        #expect(e3?.description.contains("--base needs --reference") == true)
    }
}
