import Foundation
import Testing
@testable import LoRDBA

/// Files whose values are legal but extreme: an informational `rank` far above the module's
/// shape, and finite scales too large for the check's Float32 arithmetic.
@Suite(.timeLimit(.minutes(2))) struct ValidatorRangeTests {
    /// A one-module file (f32 scales) after `edit`.
    func file(inFeatures: Int = 32, outFeatures: Int = 8, k: Int = 1, seed: UInt64 = 5,
              _ edit: (inout BinaryModule, inout SeededGenerator) -> Void) throws -> (LBAFile, [UInt8]) {
        var rng = SeededGenerator(seed: seed)
        var module = Fixtures.module(name: "layers.0.q_proj", inFeatures: inFeatures, outFeatures: outFeatures, k: k,
                                     inputScales: true, using: &rng)
        edit(&module, &rng)
        let adapter = BinaryAdapter(layout: .peft, modules: [module], carried: [], metadata: [:], scaleDType: .f32)
        let bytes = try LBAWriter().encode(adapter).bytes
        return (try LBAFile(bytes: bytes), bytes)
    }

    func options(timing: Bool = false) -> ValidationOptions {
        var o = ValidationOptions()
        o.tokens = 64
        o.threads = 1
        o.timing = timing
        o.timingSamples = 1
        o.timingMinimumSeconds = 0
        return o
    }

    // MARK: Informational rank

    @Test func informationalRankSizesNoTimingBuffer() throws {
        let (lba, bytes) = try file { m, _ in m.loraRank = 4_194_304 }
        #expect(bytes.count < 2048)
        let module = lba.adapter.modules[0]
        #expect(module.loraRank == 4_194_304)
        #expect(Validator.denseRank(module) == 8)   // min(r, in, out)
        #expect(Validator.timingBytes(inFeatures: 32, outFeatures: 8, denseRank: Validator.denseRank(module),
                                      binaryRank: 1, tokens: 512) < 200_000)
        let result = try Validator.validate(file: lba, path: "rank.lba", reference: nil, options: options(timing: true))
        #expect(result.status == .passed)
        #expect(result.timings.map(\.rank) == [4_194_304])      // reported as the file says
        #expect(result.timings.map(\.denseRank) == [8])         // timed at what the shape can hold
        let json = ValidationReport.json(result)
        #expect(json["speed"]?["shapes"]?[0]?["dense_rank"]?.integerValue == 8)
    }

    /// The command itself under a 4 GiB address-space limit: timing the baseline at the file's
    /// `rank` (4 194 304) allocated 9.1 GB and took a minute; it must now take seconds.
    @Test func validateCommandStaysSmallOnAHugeRank() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let (_, bytes) = try file { m, _ in m.loraRank = 4_194_304 }
        let path = dir.write("rank.lba", bytes)
        let tool = Tool(name: "lordba-validate")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"ulimit -v 4194304 && exec "$0" "$@""#, tool.path, path, "--threads", "1",
                             "--timing-samples", "1", "--json", "-"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"   // OpenBLAS's buffers stay small on any machine
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let start = Date()
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0,
                "\(String(decoding: stderr, as: UTF8.self))")
        #expect(seconds < 30)
        let json = try JSONParser.parse(String(decoding: stdout, as: UTF8.self))
        #expect(json["speed"]?["shapes"]?[0]?["rank"]?.integerValue == 4_194_304)
        #expect(json["speed"]?["shapes"]?[0]?["dense_rank"]?.integerValue == 8)
    }

    @Test func shapeWhoseTimingExceedsTheLimitIsNotTimed() throws {
        let (lba, _) = try file(inFeatures: 256, outFeatures: 512) { _, _ in }
        var o = options(timing: true)
        o.tokens = 4
        o.memoryLimit = 400_000   // the checks fit; the base weights (512 KiB) do not
        let result = try Validator.validate(file: lba, path: "wide.lba", reference: nil, options: o)
        #expect(result.timings.isEmpty)
        #expect(result.untimedShapes.map(\.inFeatures) == [256])
        #expect(result.untimedShapes[0].bytes > 400_000)
        #expect(ValidationReport.text(result).contains("untimed   256→512"))
        #expect(ValidationReport.json(result)["speed"]?["untimed_shapes"]?[0]?["out"]?.integerValue == 512)
    }

    // MARK: Float32 range

    /// `m = −4.2e23` with an output scale of 1e15: `B̂`'s entries and the outputs exceed Float32.
    @Test func hugeMiddleScaleIsAnOverflowNotAKernelMismatch() throws {
        let (lba, _) = try file(k: 2) { m, _ in
            m.scales.middle = [-4.2e23, 0.5]
            m.scales.output[3] = 1e15
        }
        let result = try Validator.validate(file: lba, path: "m.lba", reference: nil, options: options())
        #expect(result.status == .floatOverflow(modules: ["layers.0.q_proj"]))
        #expect(result.status.exitCode == 4)
        let overflow = try #require(result.modules[0].overflow)
        #expect(overflow.contains("above the largest float32"))
        let text = ValidationReport.text(result)
        #expect(!text.contains("MISMATCH"))
        #expect(text.contains("kernel    not judged: every module's check left the float32 range"))
        #expect(text.contains(#"overflow  module "layers.0.q_proj": float32 overflow in the check"#))
        #expect(ValidationReport.verdict(result.status).contains("FLOAT32 OVERFLOW"))
        let json = ValidationReport.json(result)
        #expect(json["status"]?.stringValue == "float_overflow")
        #expect(json["exit_code"]?.integerValue == 4)
        #expect(json["modules"]?[0]?["kernel_ok"] == .null)
        #expect(json["modules"]?[0]?["overflow"]?.stringValue == overflow)
    }

    /// Random finite float32 bit patterns as the input scales `a`.
    @Test func randomFiniteInputScalesAreAnOverflowNotAKernelMismatch() throws {
        for seed in [1, 2, 3] as [UInt64] {
            let (lba, _) = try file(inFeatures: 688, outFeatures: 256, k: 16, seed: seed) { m, rng in
                m.scales.input = (0..<m.inFeatures).map { _ in
                    var f: Float
                    repeat { f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) } while !f.isFinite
                    return f
                }
            }
            let result = try Validator.validate(file: lba, path: "a.lba", reference: nil, options: options())
            // Old verdict: KERNEL MISMATCH, relative difference 1.000.
            #expect(result.status == .floatOverflow(modules: ["layers.0.q_proj"]),
                    "seed \(seed): \(result.status), difference \(result.modules[0].kernelDifference)")
            #expect(result.modules[0].overflow?.hasPrefix("Σ|a·x| × Σ|m| × max|b| reaches") == true)
        }
    }

    /// A real mismatch stays a mismatch: scales in range, so the bound clears the arithmetic.
    @Test func inRangeFailureStaysAKernelMismatch() throws {
        let (lba, _) = try file { _, _ in }
        var result = try Validator.validate(file: lba, path: "ok.lba", reference: nil, options: options())
        #expect(result.status == .passed)
        #expect(Float32Range.overflow(lba.adapter.modules[0], x: [Float](repeating: 1, count: 32), tokens: 1,
                                      outputs: [[1, 2]]) == nil)
        result.modules[0].kernelDifference = 0.5
        #expect(ValidationStatus.evaluate(result.modules, tolerance: 1e-5, maxError: nil) == .kernelMismatch(modules: ["layers.0.q_proj"]))
    }
}
