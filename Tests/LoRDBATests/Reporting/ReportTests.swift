import Foundation
import Testing
@testable import LoRDBA

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
        #expect(html.components(separatedBy: "<circle").count - 1 == report.modules.count)   // one point per module (stored against plain)
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
