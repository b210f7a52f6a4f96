import Foundation
import Testing
@testable import LoRDBA

/// What the report guarantees: modules keyed by full name, ranks shown, the size chart in
/// stored bytes, a titled colour bar, narrow-screen tables; and the JSON provenance fields.
@Suite struct HTMLReportTests {
    static func mixedReport() throws -> (ConversionReport, TempDir) {
        let dir = TempDir()
        let input = ReportFixtures.writeMixedRankBERT(in: dir)
        var options = ConversionOptions()
        options.pipeline = .plain
        return (try Converter(options: options).convert(input: input, output: dir.path + "/b.lba"), dir)
    }

    /// `data-module` values of the heatmap's cells.
    static func heatmapModules(_ html: String) -> [String] {
        html.components(separatedBy: "<rect data-module=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    @Test func gridKeysModulesByTheirPathBelowTheLayer() {
        let grid = ModuleGrid(names: ReportFixtures.names)
        #expect(grid.rows.map(\.label) == ["layer 0", "layer 1"])
        #expect(grid.columns == ["attention.self.query", "attention.self.key", "attention.self.value",
                                 "attention.output.dense", "intermediate.dense", "output.dense"])
        #expect(grid.labels == ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"])
        #expect(grid.cells.count == ReportFixtures.names.count)
        #expect(Set(grid.cells.map { "\($0.row),\($0.column)" }).count == grid.cells.count)   // one cell each
        // LLaMA names keep short labels; blocks without a layer index are rows of their own.
        let llama = ModuleGrid(names: ["base_model.model.model.layers.1.mlp.down_proj", "base_model.model.model.layers.0.self_attn.q_proj"])
        #expect(llama.rows.map(\.layer) == [0, 1] && llama.columns == ["self_attn.q_proj", "mlp.down_proj"])
        #expect(llama.labels == ["q_proj", "down_proj"])
        let unet = ModuleGrid(names: ["unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
                                      "unet.up_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q", "classifier"])
        #expect(unet.rows.map(\.label) == ["unet.down_blocks.1.attentions.0.transformer_blocks.0",
                                           "unet.up_blocks.0.attentions.1.transformer_blocks.0", "other"])
        #expect(unet.cells.count == 3 && Set(unet.cells.map { "\($0.row),\($0.column)" }).count == 3)
    }

    @Test func pathBelowLayer() {
        #expect(ModuleName.pathBelowLayer("base_model.model.bert.encoder.layer.3.attention.output.dense") == "attention.output.dense")
        #expect(ModuleName.pathBelowLayer("base_model.model.bert.encoder.layer.3.output.dense") == "output.dense")
        #expect(ModuleName.pathBelowLayer("text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj") == "text_encoder_2.self_attn.q_proj")
        #expect(ModuleName.pathBelowLayer("lora_te_text_model_encoder_layers_0_self_attn_q_proj") == "self_attn_q_proj")
        #expect(ModuleName.pathBelowLayer("base_model.model.classifier") == "base_model.model.classifier")
    }

    @Test func terminalTableHasOneDistinctRowPerModule() throws {
        let (report, dir) = try Self.mixedReport()
        defer { dir.remove() }
        let lines = TerminalReport(colour: false).table(report).split(separator: "\n").map(String.init)
        #expect(lines.count == 1 + ReportFixtures.names.count)
        let firstLayer = lines[1...6].map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        let shown = firstLayer.map { $0[$0[0] == "0" ? 1 : 0] }
        #expect(Set(shown).count == 6)
        #expect(shown.contains("attention.output.dense") && shown.contains("intermediate.dense") && shown.contains("output.dense"))
    }

    @Test func heatmapHasEveryModuleRanksAndATitledColourBar() throws {
        let (report, dir) = try Self.mixedReport()
        defer { dir.remove() }
        #expect(Set(report.modules.map(\.binaryRank)) == [1, 2, 4, 8])
        let html = HTMLReport.page([report])
        #expect(Self.heatmapModules(html).sorted() == report.modules.map(\.name).sorted())
        #expect(html.contains("<linearGradient") && html.contains(">product error</text>"))
        #expect(html.contains("1–8 (mixed)</b><span>LoRA rank r") && html.contains("binary rank k"))
        #expect(html.contains("each cell shows its binary rank k"))
        #expect(html.contains("product error 0.") && html.contains(" · r 8 · k 8</title>"))
        #expect(html.contains("<th>r</th><th>k</th>") && html.contains("<td data-label=\"k\">8</td>"))
        // Narrow screens: every chart scales, every table turns into labelled rows.
        #expect(html.components(separatedBy: "<svg ").count - 1 == html.components(separatedBy: " viewBox=\"0 0 ").count - 1)
        #expect(html.contains("@media (max-width:720px)") && html.contains("content:attr(data-label)"))
        // No loads of any kind are allowed.
        #expect(html.contains("Content-Security-Policy\" content=\"default-src 'none'"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
    }

    @Test func sizeChartShowsStoredBytesThatAddUpToTheFile() throws {
        for (report, dir) in [try Self.mixedReport(), try ReportTests.report()] {
            defer { dir.remove() }
            let stored = HTMLCharts.storedSizes(report)
            #expect(stored.modules + stored.carried + stored.other == report.bytesOut)
            #expect(stored.modules == report.modules.reduce(0) { $0 + $1.bytes })
            let html = HTMLReport.page([report])
            // The .lba bar is labelled with the file's size, the headline figure.
            #expect(html.contains("data-total=\"\(report.bytesOut)\">\(Format.bytes(report.bytesOut))</text>"))
            #expect(html.contains("\(Format.bytes(report.bytesIn)) → \(Format.bytes(report.bytesOut))"))
        }
    }

    @Test func jsonRecordsVersionHashesAndOptions() throws {
        let (report, dir) = try Self.mixedReport()
        defer { dir.remove() }
        let document = try JSONParser.parse(ReportJSON.document([.converted(report)], maxError: nil).serialized(indent: 2))
        let schema = try JSONParser.parse(String(contentsOfFile: ReadingFixtures.packageRoot + "/formats/report.schema.json", encoding: .utf8))
        #expect(SchemaValidator(root: schema).violations(of: document) == [])
        #expect(document["tool_version"] == .string(ToolVersion.current))
        let input = try #require(document["inputs"]?.arrayValue?.first)
        #expect(input["input_sha256"] == .string(try SHA256.hex(ofFile: dir.path + "/adapter_model.safetensors")))
        #expect(input["config_sha256"] == .string(try SHA256.hex(ofFile: dir.path + "/adapter_config.json")))
        #expect(input["calibration_sha256"] == .null)
        // The same facts as the .lba's metadata.
        let metadata = try LBAFile(path: dir.path + "/b.lba").adapter.metadata
        #expect(input["input_sha256"]?.stringValue == metadata[ConversionMetadata.Key.inputSHA256])
        #expect(input["tool_version"]?.stringValue == metadata[ConversionMetadata.Key.toolVersion])
        let options = try #require(input["options"])
        #expect(options["plain"] == .bool(true) && options["factorization"] == .string("as-is"))
        #expect(options["scale_dtype"] == .string(metadata[ConversionMetadata.Key.scaleDType] ?? "?"))
        #expect(options["binary_rank"] == .string("1x") && options["budget"] == .null && options["seed"] == .integer(1))
    }
}
