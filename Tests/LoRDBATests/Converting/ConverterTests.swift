import Foundation
import Testing
@testable import LoRDBA

@Suite struct ConverterTests {
    static let samples = ["minilm-cls-r8", "tiny-llama-lora-f16"]

    @Test(.tags(.slow), .slowNumeric, arguments: samples)
    func convertsSampleAndTheFileHoldsWhatTheBinarizerMade(sample: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let output = dir.path + "/out.lba"
        var options = ConversionOptions()
        options.pipeline = .plain
        let report = try Converter(options: options).convert(input: ReadingFixtures.sample(sample), output: output)
        let file = try LBAFile(path: output)
        let source = try AdapterSource.open(ReadingFixtures.sample(sample))
        #expect(file.adapter.modules.count == source.modules.count)
        #expect(report.modules.count == source.modules.count)
        #expect(report.bytesOut == file.fileSize)
        #expect(file.adapter.carried.count == source.carried.count)
        for (spec, stored) in zip(source.modules, file.adapter.modules) {
            let direct = Binarizer(scaleDType: options.pipeline.scaleDType).binarize(try source.load(spec)).module
            #expect(stored.name == spec.name)
            #expect(stored.signA == direct.signA && stored.signB == direct.signB)
            #expect(stored.scales == direct.scales)
            #expect(stored.loraScale == spec.scale)
        }
        // Median product error of plain binarization, as measured independently (numpy, float64) on these samples.
        let expected = sample == "minilm-cls-r8" ? 0.47 : 0.68
        #expect(abs(report.summary.productErrorMedian - expected) < 0.01)
        #expect(report.modules.allSatisfy { ($0.errors.productErrorBound ?? 0) >= $0.errors.productError })
    }

    /// The default pipeline (auto factorization, closed-form refit, sign search) against plain binarization.
    @Test(.tags(.slow), .slowNumeric, arguments: samples)
    func defaultPipelineBeatsPlainOnEverySample(sample: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let report = try Converter().convert(input: ReadingFixtures.sample(sample), output: dir.path + "/d.lba")
        let plainMedian = median(report.modules.map(\.plainProductError))
        let median = report.summary.productErrorMedian
        #expect(median < plainMedian)
        if sample == "minilm-cls-r8" { #expect(median <= 0.9 * plainMedian) }
        #expect(report.modules.allSatisfy { $0.errors.productError <= $0.plainProductError + 1e-9 })
        #expect(report.modules.allSatisfy { $0.method != "" })
    }

    @Test(.tags(.slow), .slowNumeric) func outputIsIdenticalForAnyThreadCount() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var bytes: [[UInt8]] = []
        for threads in [1, 2, 5] {
            var options = ConversionOptions()
            options.threads = threads
            let path = dir.path + "/t\(threads).lba"
            // 12 modules over up to 5 workers: enough to interleave them (tiny-llama took a minute in debug).
            _ = try Converter(options: options).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: path)
            bytes.append(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        #expect(bytes[0] == bytes[1] && bytes[1] == bytes[2])
    }

    @Test func existingOutputIsKeptWithoutOverwrite() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let output = dir.write("out.lba", text: "precious")
        var plain = ConversionOptions()
        plain.pipeline = .plain
        let error = caught { () throws(ConversionError) in try Converter(options: plain).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: output) }
        guard case .outputExists = error else { Issue.record("expected outputExists, got \(String(describing: error))"); return }
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "precious")
        var options = plain
        options.overwrite = true
        _ = try Converter(options: options).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: output)
        #expect(try LBAFile(path: output).adapter.modules.count == 12)
    }

    @Test func badInputLeavesNoOutput() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var a = ReadingFixtures.values(2 * 6, seed: 1)
        a[7] = .nan
        let weights = dir.writeTensors("adapter_model.safetensors", [
            ReadingFixtures.tensor("m.lora_A.weight", [2, 6], a),
            ReadingFixtures.tensor("m.lora_B.weight", [4, 2], seed: 2),
        ])
        dir.write("adapter_config.json", text: #"{"r": 2, "lora_alpha": 4}"#)
        let output = dir.path + "/out.lba"
        let error = caught { () throws(ConversionError) in try Converter().convert(input: weights, output: output) }
        let message = try #require(error).description
        expectOneLine(message, file: weights, subject: "m.lora_A.weight", mentions: "NaN")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["adapter_config.json", "adapter_model.safetensors"])
    }

    @Test func unwritableOutputIsAnErrorNamingThePath() throws {
        let output = "/proc/lordba-cannot-write/out.lba"
        var plain = ConversionOptions()
        plain.pipeline = .plain
        let error = caught { () throws(ConversionError) in try Converter(options: plain).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: output) }
        let message = try #require(error).description
        #expect(message.hasPrefix(output) || message.contains(output))
        #expect(!message.contains("\n"))
    }

    @Test func batchKeepsGoingPastABadInputAndNamesOutputs() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bad = dir.write("broken.safetensors", [1, 2, 3])
        let inputs = [ReadingFixtures.sample("minilm-cls-r8"), bad, ReadingFixtures.sample("tiny-llama-lora-f16") + "/adapter_model.safetensors"]
        let jobs = inputs.map { BatchConversion.Job(input: $0, output: BatchConversion.output(for: $0, in: dir.path + "/")) }
        #expect(jobs.map { ($0.output as NSString).lastPathComponent } == ["minilm-cls-r8.lba", "broken.lba", "tiny-llama-lora-f16.lba"])
        var plain = ConversionOptions()
        plain.pipeline = .plain
        let results = BatchConversion(options: plain, jobs: 2).run(jobs)
        #expect((try? results[0].get()) != nil)
        #expect((try? results[1].get()) == nil)
        #expect((try? results[2].get()) != nil)
        #expect(!FileManager.default.fileExists(atPath: jobs[1].output))
        #expect(try LBAFile(path: jobs[2].output).adapter.modules.count == 28)
    }
}

func median(_ values: [Double]) -> Double { Median.of(values)! }
