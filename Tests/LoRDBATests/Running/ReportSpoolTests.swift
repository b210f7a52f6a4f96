import Foundation
import Testing
@testable import LoRDBA

/// A batch's JSON report written from the spool and small retained records reads exactly as one
/// written from whole reports, and so do its Markdown summary, annotations and gate.
@Suite struct ReportSpoolTests {
    /// Both samples converted (one with a NaN and an infinite figure), a failed and a skipped input.
    func outcomes(in dir: TempDir) throws -> [RunOutcome] {
        var options = ConversionOptions()
        options.pipeline = .plain
        let inputs = ["minilm-cls-r8", "tiny-llama-lora-f16"].map(ReadingFixtures.sample)
        let run = try ConversionRun(.init(inputs: inputs, output: nil, outDirectory: dir.path + "/out",
                                          options: options, jobs: 2, reportHTMLPath: dir.path + "/r.html"))
        var converted = run.convert()
        guard case .converted(var report) = converted[1] else { Issue.record("conversion failed"); return [] }
        report.modules[3].errors.productError = .nan
        report.modules[5].errors.rhoA = .infinity
        converted[1] = .converted(report)
        return [converted[0], .failed(input: "bad", output: "out/bad.lba", reason: "bad: not a safetensors file"),
                .skipped(input: "old", output: "out/old.lba", reason: "up to date"), converted[1]]
    }

    /// The run's JSON report; the gate's modules are read from the reports unless given.
    func json(_ outcomes: [RunOutcome], maxError: Double?, exceeded: [ReportJSON.Exceeded]? = nil,
              spool: ReportSpool?) throws -> [UInt8] {
        let exceeded = exceeded ?? ReportJSON.exceeded(outcomes.compactMap(\.entry), maxError: maxError)
        var text: [UInt8] = []
        var pieces = 0
        try RunReportJSON.write(outcomes, maxError: maxError, exceeded: exceeded,
                                shard: ShardRecord(shard: Shard(index: 1, count: 2)!, inputsTotal: 8, positions: [0, 2, 5, 7]),
                                spool: spool, path: "r.json") { piece in
            text += piece
            pieces += 1
        }
        #expect(pieces >= 1)
        return text
    }

    @Test func spooledReportReadsExactlyAsOneFromWholeReports() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let whole = try outcomes(in: dir)
        var request = ConversionRun.Request(inputs: [], output: nil, outDirectory: dir.path, options: ConversionOptions(),
                                            jobs: 2, maxError: 0.5, reportJSONPath: dir.path + "/r.json")
        request.summaryMarkdownPath = dir.path + "/r.md"
        let retention = BatchRetention(request, jobs: 2)
        let spool = try #require(retention.spool)
        // Inputs finish in any order.
        var retained = whole
        for (i, outcome) in whole.enumerated().reversed() {
            guard case .converted(let report) = outcome else { continue }
            retained[i] = .converted(retention.keep(report, position: i))
        }
        // What is kept is small: the summary alone.
        for case (.converted(let full), .converted(let kept)) in zip(whole, retained) {
            #expect(kept.notes.isEmpty && kept.provenance.options.isEmpty && kept.modules.isEmpty && kept.summary.worst.isEmpty)
            #expect(kept.summary.productErrorMedian == full.summary.productErrorMedian && kept.summary.modules == full.summary.modules)
        }

        let expected = try json(whole, maxError: 0.5, spool: nil)
        #expect(try json(retained, maxError: 0.5, exceeded: retention.exceeded, spool: spool) == expected)
        // The text is what the whole document's serializer writes (NaN and ±∞ as null), and it
        // lists the non-finite figures by their place in the run.
        let text = String(decoding: expected, as: UTF8.self)
        let document = try JSONParser.parse(text)
        #expect(document.serialized(indent: 2) + "\n" == text)
        let nonFinite = document["non_finite"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(nonFinite.contains("inputs[3].modules[3].product_error") && nonFinite.contains("inputs[3].modules[5].rho_a"))
        #expect(nonFinite.contains { $0.hasPrefix("exceeded[") })
        #expect(document["inputs"]?.arrayValue?.compactMap { $0["status"]?.stringValue } == ["ok", "failed", "skipped", "ok"])

        // The gate's modules and the worst modules, gathered as inputs finished, are the ones the
        // whole reports give, and so the Markdown summary and the annotations read the same.
        let exceeded = ReportJSON.exceeded(whole.compactMap(\.entry), maxError: 0.5)
        #expect(Set(exceeded.map(\.input)).count == 2)
        // (Compared as text: a NaN error is not equal to itself.)
        #expect(retention.exceeded?.map { "\($0)" } == exceeded.map { "\($0)" })
        let worst = try #require(retention.worstModules)
        let listed = CISummary.WorstModules(whole).listed
        #expect(listed.count == CISummary.modulesListed && listed[0].error.isNaN)
        #expect(worst.listed.map { "\($0.input) \($0.module)" } == listed.map { "\($0.input) \($0.module)" })
        let markdown = CISummary.markdown(whole, maxError: 0.5, exceeded: exceeded)
        #expect(markdown.contains("| `\(listed[1].input)` | `\(listed[1].module)` |"))
        #expect(CISummary.markdown(retained, maxError: 0.5, exceeded: exceeded, worst: worst) == markdown)
        #expect(CISummary.annotations(retained, maxError: 0.5, exceeded: exceeded)
                == CISummary.annotations(whole, maxError: 0.5, exceeded: exceeded))
    }

    @Test func aBatchWritingJSONKeepsRecordsAndItsReportMatchesOneKeepingWholeReports() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var options = ConversionOptions()
        options.pipeline = .plain
        let inputs = ["minilm-cls-r8", "tiny-llama-lora-f16"].map(ReadingFixtures.sample)
        func run(_ name: String, html: Bool) throws -> (ConversionRun, [RunOutcome]) {
            var request = ConversionRun.Request(inputs: inputs, output: nil, outDirectory: dir.path + "/" + name,
                                                options: options, jobs: 2, maxError: 0.5,
                                                reportJSONPath: dir.path + "/\(name).json")
            request.summaryMarkdownPath = dir.path + "/\(name).md"
            if html { request.reportHTMLPath = dir.path + "/\(name).html" }
            let run = try ConversionRun(request)
            let outcomes = run.convert()
            #expect(run.finish(outcomes).status == .errorAboveThreshold)
            return (run, outcomes)
        }
        let (spooled, kept) = try run("spooled", html: false)
        let (whole, full) = try run("whole", html: true)
        #expect(spooled.retention.spool != nil && !spooled.retention.keepsWhole && whole.retention.keepsWhole)
        for case (.converted(let k), .converted(let f)) in zip(kept, full) {
            #expect(k.retainedSummary != nil && k.modules.count < f.modules.count && f.retainedSummary == nil && k.notes.isEmpty)
        }
        // The two reports differ only in their outputs' folder and the seconds each input took.
        func normalized(_ name: String) throws -> String {
            try String(contentsOfFile: dir.path + "/\(name).json", encoding: .utf8)
                .replacingOccurrences(of: #""seconds": [0-9.e+-]+"#, with: "", options: .regularExpression)
                .replacingOccurrences(of: dir.path + "/" + name + "/", with: "")
        }
        #expect(try normalized("spooled") == normalized("whole"))
        let markdown = try String(contentsOfFile: dir.path + "/spooled.md", encoding: .utf8)
        #expect(markdown.contains("### Worst modules"))
        #expect(try markdown == String(contentsOfFile: dir.path + "/whole.md", encoding: .utf8))
    }
}
