import Testing
@testable import LoRDBA

/// `--calibration` files: per-module `<module>.input_sq_mean` statistics in a safetensors file.
@Suite struct CalibrationStatsTests {
    typealias F = ReadingFixtures

    @Test func findsStatisticsWithAndWithoutThePEFTPrefix() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let q = (0..<6).map { Float($0) + 0.5 }, v: [Float] = [4, 3, 2, 1]
        let path = dir.writeTensors("calibration.safetensors", [
            F.tensor("layers.0.q_proj.input_sq_mean", [6], q),
            F.tensor("base_model.model.layers.0.v_proj.input_sq_mean", [4], v, .f16),
            F.tensor("layers.0.q_proj.other_statistic", [2], [1, 2]),   // ignored: not a mean square
        ])
        let stats = try CalibrationStats(path: path)
        #expect(stats.path == path)
        #expect(Set(stats.inputSquareMean.keys) == ["layers.0.q_proj", "base_model.model.layers.0.v_proj"])
        // Stored without the prefix: found by the PEFT module name and by the bare name.
        #expect(stats.statistics(for: "base_model.model.layers.0.q_proj") == q)
        #expect(stats.statistics(for: "layers.0.q_proj") == q)
        // Stored with the prefix (as F16): found both ways too.
        #expect(stats.statistics(for: "base_model.model.layers.0.v_proj") == v)
        #expect(stats.statistics(for: "layers.0.v_proj") == v)
        // Anything else has none (a prefix is matched whole, not as any leading text).
        #expect(stats.statistics(for: "base_model.model.layers.0.o_proj") == nil)
        #expect(stats.statistics(for: "model.layers.0.q_proj") == nil)
        #expect(stats.statistics(for: "0.q_proj") == nil)
    }

    @Test func refusesStatisticsThatCannotWeightAnything() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let twoD = dir.writeTensors("2d.safetensors", [F.tensor("m.input_sq_mean", [2, 3], [1, 2, 3, 4, 5, 6])])
        let negative = dir.writeTensors("neg.safetensors", [F.tensor("m.input_sq_mean", [3], [1, -0.5, 2])])
        let none = dir.writeTensors("none.safetensors", [F.tensor("m.lora_A.weight", [2, 3], seed: 1)])
        let cases: [(String, String?, String)] = [
            (twoD, "m.input_sq_mean", "one-dimensional"),
            (negative, "m.input_sq_mean", "entry 1 is -0.5"),
            (none, nil, "not a calibration statistics file"),
        ]
        for (path, tensor, problem) in cases {
            let error = caught { () throws(CalibrationError) in try CalibrationStats(path: path) }
            guard case .invalid(let errorPath, let errorTensor, _) = error else {
                Issue.record("\(path): expected .invalid, got \(String(describing: error))")
                continue
            }
            #expect(errorPath == path && errorTensor == tensor)
            expectOneLine(error!.description, file: path, subject: tensor, mentions: problem)
        }
        // Not a safetensors file at all: the reader's own error, naming the file.
        let garbage = dir.write("garbage.safetensors", [1, 2, 3])
        let error = caught { () throws(CalibrationError) in try CalibrationStats(path: garbage) }
        guard case .file = error else { Issue.record("expected .file, got \(String(describing: error))"); return }
        #expect(error!.description.hasPrefix(garbage + ": "))
    }
}
