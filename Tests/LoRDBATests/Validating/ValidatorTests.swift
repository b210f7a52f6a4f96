import Foundation
import Testing
@testable import LoRDBA

/// The tiny LLaMA sample converted in memory once: its `.lba` bytes and the reference path.
enum ValidatorFixtures {
    static let sample = ReadingFixtures.sample("tiny-llama-lora-f16")

    static let lbaBytes: [UInt8] = {
        let source = try! AdapterSource.open(sample)
        let modules = source.modules.map { Binarizer().binarize(try! source.load($0)).module }
        let adapter = BinaryAdapter(layout: source.layout, modules: modules, carried: [], metadata: [:])
        return try! LBAWriter().encode(adapter).bytes
    }()

    static func options(tokens: Int, reference: Bool, timing: Bool = false) -> ValidationOptions {
        var o = ValidationOptions()
        o.tokens = tokens
        o.seed = 7
        o.threads = 2
        o.referencePath = reference ? sample : nil
        o.timing = timing
        o.timingTokens = [1, 8]
        o.timingSamples = 1
        o.timingMinimumSeconds = 0
        return o
    }
}

/// Validator refuses corrupt or unreadable inputs before any compute, and maps outcomes to exit codes.
@Suite struct ValidatorTests {
    func catchValidator(_ body: () throws(ValidatorError) -> ValidationResult) -> ValidatorError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Rejected inputs

    @Test func corruptedFileIsRejectedBeforeAnyCompute() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let good = try LBAFile(bytes: ValidatorFixtures.lbaBytes)
        // Flip one bit in the last section: a reader that computed module by module would have
        // run every other module first; the validator must refuse the file before any of them.
        let last = try #require(good.sections.last)
        for (name, offset) in [("sign.lba", good.sections[0].offset + 3), ("last.lba", last.offset + last.storedLength - 1),
                               ("table.lba", 64 + good.tableLength / 2)] {
            var bytes = ValidatorFixtures.lbaBytes
            bytes[offset] ^= 0x10
            let path = dir.write(name, bytes)
            let error = catchValidator { () throws(ValidatorError) in
                try Validator.validate(path: path, options: ValidatorFixtures.options(tokens: 4, reference: false))
            }
            guard case .lba(let lbaError)? = error else {
                Issue.record("\(name): expected an .lba error, got \(String(describing: error))")
                continue
            }
            #expect(lbaError.path == path)
            #expect(error!.description.hasPrefix(path + ": "))
            #expect(!error!.description.contains("\n"))
        }
    }

    @Test func unreadableInputsAreOneLineErrorsNamingTheFile() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let missing = dir.path + "/missing.lba"
        let e1 = catchValidator { () throws(ValidatorError) in
            try Validator.validate(path: missing, options: ValidatorFixtures.options(tokens: 4, reference: false))
        }
        guard case .lba? = e1 else { Issue.record("expected .lba, got \(String(describing: e1))"); return }
        #expect(e1!.description.hasPrefix(missing + ": "))

        let lba = dir.write("tiny.lba", ValidatorFixtures.lbaBytes)
        var options = ValidatorFixtures.options(tokens: 4, reference: false)
        options.referencePath = dir.path + "/no-such-adapter"
        let e2 = catchValidator { () throws(ValidatorError) in try Validator.validate(path: lba, options: options) }
        guard case .reference? = e2 else { Issue.record("expected .reference, got \(String(describing: e2))"); return }
        #expect(e2!.description.contains("no-such-adapter"))

        // The wrong adapter as reference: modules do not match.
        options.referencePath = ReadingFixtures.sample("minilm-cls-r8")
        let e3 = catchValidator { () throws(ValidatorError) in try Validator.validate(path: lba, options: options) }
        guard case .referenceMismatch(let path, _, let problem)? = e3 else {
            Issue.record("expected .referenceMismatch, got \(String(describing: e3))")
            return
        }
        #expect(path.hasSuffix("adapter_model.safetensors"))
        #expect(problem.contains("not in the reference"))
        #expect(!e3!.description.contains("\n"))

        // --max-error without a reference is refused.
        var noReference = ValidatorFixtures.options(tokens: 4, reference: false)
        noReference.maxError = 0.5
        let e4 = catchValidator { () throws(ValidatorError) in try Validator.validate(path: lba, options: noReference) }
        guard case .invalidOptions? = e4 else { Issue.record("expected .invalidOptions, got \(String(describing: e4))"); return }
    }

    @Test func runtimePreparesEveryModuleAndRejectsCorruptFiles() throws {
        let file = try LBAFile(bytes: ValidatorFixtures.lbaBytes)
        let runtime = LoRDBARuntime(file)
        #expect(runtime.modules.count == file.adapter.modules.count)
        let module = file.adapter.modules[5]
        let index = try #require(runtime.index(of: module.name))
        #expect(runtime.module(named: module.name)?.outFeatures == module.outFeatures)
        #expect(runtime.index(of: "no such module") == nil)
        let x = activations(3 * module.inFeatures, seed: 9)
        var viaRuntime = [Float](repeating: 1, count: 3 * module.outFeatures)
        var direct = viaRuntime
        runtime.apply(module: index, x, tokens: 3, into: &viaRuntime)
        SignGEMM(module).apply(x, tokens: 3, into: &direct)
        #expect(viaRuntime == direct)
        #expect(runtime.signBytes == runtime.modules.reduce(0) { $0 + $1.signBytes })

        let dir = TempDir()
        defer { dir.remove() }
        var bytes = ValidatorFixtures.lbaBytes
        bytes[bytes.count - 100] ^= 1
        let path = dir.write("bad.lba", bytes)
        #expect(throws: LBAError.self) { _ = try LoRDBARuntime(path: path) }
        #expect(try LoRDBARuntime(path: dir.write("good.lba", ValidatorFixtures.lbaBytes)).modules.count == 28)
    }

    // MARK: - Exit codes

    func module(_ name: String, kernel: Double, fidelity: Double? = nil) -> ModuleValidation {
        ModuleValidation(name: name, kind: .linear, inFeatures: 4, outFeatures: 4, rank: 2, binaryRank: 2,
                         kernelDifference: kernel, kernelDifferenceHalf: kernel / 2, fidelity: fidelity,
                         productError: fidelity)
    }

    @Test func exitCodes() {
        let ok = [module("a", kernel: 1e-7, fidelity: 0.4), module("b", kernel: 9e-6, fidelity: 0.6)]
        #expect(ValidationStatus.evaluate(ok, tolerance: 1e-5, maxError: nil) == .passed)
        #expect(ValidationStatus.evaluate(ok, tolerance: 1e-5, maxError: 0.6).exitCode == 0)
        #expect(ValidationStatus.evaluate(ok, tolerance: 1e-5, maxError: 0.5) == .fidelityExceeded(modules: ["b"]))
        #expect(ValidationStatus.evaluate(ok, tolerance: 1e-5, maxError: 0.5).exitCode == 3)
        // The half-precision difference counts too.
        var halfBad = module("h", kernel: 1e-7)
        halfBad.kernelDifferenceHalf = 2e-5
        #expect(ValidationStatus.evaluate([halfBad], tolerance: 1e-5, maxError: nil) == .kernelMismatch(modules: ["h"]))
        // A kernel mismatch wins over fidelity, and names every failing module.
        let bad = ok + [module("c", kernel: 2e-5, fidelity: 0.9), module("d", kernel: .nan, fidelity: 0.1)]
        let status = ValidationStatus.evaluate(bad, tolerance: 1e-5, maxError: 0.5)
        #expect(status == .kernelMismatch(modules: ["c", "d"]))
        #expect(status.exitCode == 1)
        #expect(ValidationReport.verdict(status).contains("c, d"))
        // Fidelity NaN fails the gate; a module without a fidelity never does.
        #expect(ValidationStatus.evaluate([module("n", kernel: 0, fidelity: .nan)], tolerance: 1e-5, maxError: 1).exitCode == 3)
        #expect(ValidationStatus.evaluate([module("u", kernel: 0)], tolerance: 1e-5, maxError: 0).exitCode == 0)
        #expect(ValidationStatus.unreadableInputExitCode == 1)
    }
}
