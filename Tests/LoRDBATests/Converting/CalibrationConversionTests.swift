import Foundation
import Testing
@testable import LoRDBA

/// `Converter` with `ConversionOptions.calibrationPath` (`lordba-convert --calibration`).
@Suite struct CalibrationConversionTests {
    typealias F = ReadingFixtures

    static let (r, inFeatures, outFeatures, alpha) = (4, 16, 12, 8.0)
    static let prefix = "base_model.model.layers.0."
    /// Module names below `prefix`, with the seeds of their A and B values.
    static let modules: [(name: String, seed: UInt64)] = [("q_proj", 1), ("v_proj", 3), ("o_proj", 5)]

    /// Mean squares that put almost all the input energy on four channels.
    static let weights: [Float] = (0..<inFeatures).map { $0 < 4 ? 50 : 0.02 }

    /// A PEFT folder with three random rank-4 modules; returns its path.
    static func adapter(in dir: TempDir) -> String {
        let folder = dir.mkdir("adapter")
        var tensors: [F.Tensor] = []
        for (name, seed) in modules {
            tensors.append(F.tensor(prefix + name + ".lora_A.weight", [r, inFeatures], seed: seed))
            tensors.append(F.tensor(prefix + name + ".lora_B.weight", [outFeatures, r], seed: seed + 1))
        }
        dir.writeTensors("adapter/adapter_model.safetensors", tensors)
        dir.write("adapter/adapter_config.json", text: #"{"r": 4, "lora_alpha": 8}"#)
        return folder
    }

    /// `ΔW = (alpha/r)·B·A` of module `seed`, `[out, in]`, from the values the fixture wrote.
    static func product(seed: UInt64) -> [Float] {
        let a = F.values(r * inFeatures, seed: seed), b = F.values(outFeatures * r, seed: seed + 1)
        var w = [Float](repeating: 0, count: outFeatures * inFeatures)
        for o in 0..<outFeatures {
            for i in 0..<inFeatures {
                var sum: Float = 0
                for j in 0..<r { sum += b[o * r + j] * a[j * inFeatures + i] }
                w[o * inFeatures + i] = Float(alpha / Double(r)) * sum
            }
        }
        return w
    }

    /// `‖(ΔW − ΔŴ)·diag(√d)‖ / ‖ΔW·diag(√d)‖`, with `ΔŴ` computed by the sign kernel.
    static func weightedError(_ module: BinaryModule, seed: UInt64, d: [Float]) -> Double {
        // Row t of the kernel's output for the identity input is column t of ΔŴ.
        var identity = [Float](repeating: 0, count: inFeatures * inFeatures)
        for t in 0..<inFeatures { identity[t * inFeatures + t] = 1 }
        var columns = [Float](repeating: 0, count: inFeatures * outFeatures)
        SignGEMM(module).apply(identity, tokens: inFeatures, into: &columns)
        let w = product(seed: seed)
        var approx = [Float](repeating: 0, count: w.count), exact = approx
        for o in 0..<outFeatures {
            for i in 0..<inFeatures {
                approx[o * inFeatures + i] = columns[i * outFeatures + o] * d[i].squareRoot()
                exact[o * inFeatures + i] = w[o * inFeatures + i] * d[i].squareRoot()
            }
        }
        return relativeDifference(approx, exact)
    }

    @Test func weightedConversionFitsTheWeightedChannelsBetter() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir)
        // q_proj without the PEFT prefix, v_proj with it, o_proj with no statistics.
        let calibration = dir.writeTensors("calibration.safetensors", [
            F.tensor("layers.0.q_proj.input_sq_mean", [Self.inFeatures], Self.weights),
            F.tensor(Self.prefix + "v_proj.input_sq_mean", [Self.inFeatures], Self.weights),
        ])
        var options = ConversionOptions()
        let unweighted = try Converter(options: options).convert(input: input, output: dir.path + "/plain.lba")
        options.calibrationPath = calibration
        let weighted = try Converter(options: options).convert(input: input, output: dir.path + "/weighted.lba")

        #expect(readFile(dir.path + "/plain.lba") != readFile(dir.path + "/weighted.lba"))
        #expect(weighted.notes.contains("weighted by input statistics from \(calibration) (1 modules had none: unweighted)"))
        #expect(!unweighted.notes.contains { $0.hasPrefix("weighted by") })
        let plainFile = try LBAFile(path: dir.path + "/plain.lba").adapter
        let weightedFile = try LBAFile(path: dir.path + "/weighted.lba").adapter
        let ones = [Float](repeating: 1, count: Self.inFeatures)
        #expect(plainFile.modules.map(\.name) == weightedFile.modules.map(\.name))
        for (name, seed) in Self.modules {
            let p = try #require(plainFile.modules.first { $0.name == Self.prefix + name })
            let w = try #require(weightedFile.modules.first { $0.name == Self.prefix + name })
            if name == "o_proj" {
                // No statistics: converted exactly as without calibration.
                #expect(w.signA == p.signA && w.signB == p.signB && w.scales == p.scales)
                continue
            }
            let weightedError = Self.weightedError(w, seed: seed, d: Self.weights)
            let unweightedError = Self.weightedError(p, seed: seed, d: Self.weights)
            #expect(weightedError < 0.9 * unweightedError, "\(name): weighted \(weightedError) vs \(unweightedError)")
            // The price: the unweighted conversion fits the unweighted product at least as well.
            #expect(Self.weightedError(p, seed: seed, d: ones) <= Self.weightedError(w, seed: seed, d: ones) + 1e-6, "\(name)")
        }
    }

    @Test func wrongLengthStatisticIsRefusedBeforeAnythingIsWritten() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir)
        let calibration = dir.writeTensors("calibration.safetensors", [
            F.tensor(Self.prefix + "o_proj.input_sq_mean", [Self.inFeatures], Self.weights),
            F.tensor("layers.0.v_proj.input_sq_mean", [Self.inFeatures - 1], Array(Self.weights.dropLast())),
        ])
        var options = ConversionOptions()
        options.pipeline = .plain
        options.calibrationPath = calibration
        let output = dir.path + "/out.lba"
        let error = caught { () throws(ConversionError) in try Converter(options: options).convert(input: input, output: output) }
        guard case .calibration(let reason) = error else {
            Issue.record("expected a calibration error, got \(String(describing: error))")
            return
        }
        #expect(reason == .mismatch(path: calibration, module: Self.prefix + "v_proj", count: Self.inFeatures - 1,
                                    expected: Self.inFeatures))
        expectOneLine(error!.description, file: calibration, subject: Self.prefix + "v_proj.input_sq_mean",
                      mentions: "has 15 entries, the module has 16 input features")
        #expect(!FileManager.default.fileExists(atPath: output))
        // A calibration file that is not one is refused the same way, naming it.
        options.calibrationPath = input + "/adapter_model.safetensors"
        let notStats = caught { () throws(ConversionError) in try Converter(options: options).convert(input: input, output: output) }
        guard case .calibration(.invalid) = notStats else { Issue.record("got \(String(describing: notStats))"); return }
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
