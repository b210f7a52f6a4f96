import Foundation
import Testing
@testable import LoRDBA

@Suite struct ConverterTests {
    static let samples = ["minilm-cls-r8", "tiny-llama-lora-f16"]

    @Test(arguments: samples)
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
            let direct = Binarizer().binarize(try source.load(spec)).module
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

    /// The default pipeline (auto factorization, closed-form refit, STE) against plain binarization.
    @Test(arguments: samples)
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

    @Test func outputIsIdenticalForAnyThreadCount() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var bytes: [[UInt8]] = []
        for threads in [1, 2, 5] {
            var options = ConversionOptions()
            options.threads = threads
            options.pipeline.refineSteps = 4      // the default pipeline, shortened for a debug build
            let path = dir.path + "/t\(threads).lba"
            _ = try Converter(options: options).convert(input: ReadingFixtures.sample("tiny-llama-lora-f16"), output: path)
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

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

@Suite struct ReportTests {
    static func report() throws -> (ConversionReport, TempDir) {
        let dir = TempDir()
        var options = ConversionOptions()
        options.pipeline = .plain
        return (try Converter(options: options).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: dir.path + "/m.lba"), dir)
    }

    @Test func jsonValidatesAgainstTheDocumentedSchema() throws {
        let (report, dir) = try Self.report()
        defer { dir.remove() }
        let schema = try JSONParser.parse(String(contentsOfFile: ReadingFixtures.packageRoot + "/formats/report.schema.json", encoding: .utf8))
        let validator = SchemaValidator(root: schema)
        let document = ReportJSON.document([.converted(report), .failed(input: "x", output: "x.lba", reason: "x: broken")], maxError: 0.5)
        #expect(validator.violations(of: document) == [])
        // Round trip through text, as CI reads it.
        let reparsed = try JSONParser.parse(document.serialized(indent: 2))
        #expect(validator.violations(of: reparsed) == [])
        // The validator itself catches a missing field and a wrong type.
        #expect(!validator.violations(of: .object([("schema_version", .integer(1))])).isEmpty)
        let module = reparsed["inputs"]!.arrayValue![0]["modules"]!.arrayValue![0]
        #expect(module["rank"] == .integer(8))
        #expect(module["product_error"]!.doubleValue! > 0)
        let exceeded = reparsed["exceeded"]!.arrayValue!
        #expect(exceeded.count == report.modules.filter { $0.errors.productError > 0.5 }.count)
        #expect(exceeded.count > 0)
    }

    @Test func compareAddsBaselinesThatValidate() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var options = ConversionOptions()
        options.pipeline = .plain
        options.compare = true
        let report = try Converter(options: options).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: dir.path + "/c.lba")
        #expect(report.modules.allSatisfy { $0.baselines != nil })
        let medians = try #require(report.baselineMedians)
        #expect(medians.map(\.0) == ["lordba", "svd_truncation", "sign_per_factor", "sign_per_row", "two_bit_rowwise"])
        let schema = try JSONParser.parse(String(contentsOfFile: ReadingFixtures.packageRoot + "/formats/report.schema.json", encoding: .utf8))
        let document = ReportJSON.document([.converted(report)], maxError: nil)
        #expect(SchemaValidator(root: schema).violations(of: document) == [])
        #expect(document["inputs"]?.arrayValue?[0]["modules"]?.arrayValue?[0]["compare"]?["svd_rank"] != nil)
        #expect(TerminalReport(colour: false).summary(report).contains("only a proxy"))
        #expect(HTMLReport.page([report]).contains("What the same bytes buy otherwise"))
    }

    @Test func summaryStatistics() throws {
        let (report, dir) = try Self.report()
        defer { dir.remove() }
        let errors = report.modules.map(\.errors.productError).sorted()
        let s = report.summary
        #expect(s.productErrorMax == errors.last)
        #expect(s.productErrorMedian == (errors[5] + errors[6]) / 2)
        #expect(s.worst.map(\.errors.productError) == Array(errors.reversed().prefix(3)))
        #expect(s.ratioVsInput == Double(report.bytesIn) / Double(report.bytesOut))
        #expect(report.modules.reduce(0) { $0 + $1.bytes } + report.carriedBytes < report.bytesOut)
    }

    @Test func terminalTableGroupsByLayerAndAligns() throws {
        let (report, dir) = try Self.report()
        defer { dir.remove() }
        let lines = TerminalReport(colour: false).table(report).split(separator: "\n").map(String.init)
        #expect(lines.count == 13)
        #expect(Set(lines.map(\.count)).count == 1)          // every row padded to one width
        #expect(lines[1].hasPrefix("0 ") && lines[2].hasPrefix("  "))   // layer shown once per group
        #expect(lines[1].contains("query") && lines[2].contains("value"))
        #expect(!TerminalReport(colour: false).summary(report).contains("\u{1B}"))
        #expect(TerminalReport(colour: true).summary(report).contains("\u{1B}[32m"))
    }

    @Test func htmlIsSelfContainedAndShowsEveryModule() throws {
        let (report, dir) = try Self.report()
        defer { dir.remove() }
        let html = HTMLReport.page([report])
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("http://") || !html.contains("src=\"http"))
        #expect(!html.contains("<script"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        #expect(html.components(separatedBy: "<circle").count - 1 >= 24 + 2)   // A and B of every module, plus legend
        for m in report.modules { #expect(html.contains(m.name)) }
        #expect(HTMLReport.escape("<a href=\"x\">&</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;")
    }

    @Test func moduleNamesSplitIntoLayerAndType() {
        #expect(ModuleName("base_model.model.model.layers.12.mlp.down_proj") == ModuleName(layer: 12, type: "down_proj"))
        #expect(ModuleName("base_model.model.bert.encoder.layer.3.attention.self.value") == ModuleName(layer: 3, type: "value"))
        #expect(ModuleName("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q").layer == 1)
        #expect(ModuleName("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q").type == "to_q")
        #expect(ModuleName("base_model.model.classifier").layer == nil)
    }
}
