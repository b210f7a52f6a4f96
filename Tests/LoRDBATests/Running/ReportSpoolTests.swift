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

    func json(_ outcomes: [RunOutcome], maxError: Double?, spool: ReportSpool?) throws -> [UInt8] {
        let entries = outcomes.compactMap(\.entry)
        var text: [UInt8] = []
        var pieces = 0
        try RunReportJSON.write(outcomes, maxError: maxError, exceeded: ReportJSON.exceeded(entries, maxError: maxError),
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
        let spool = try #require(ReportSpool())
        let retained = whole.enumerated().map { i, outcome -> RunOutcome in
            guard case .converted(let report) = outcome else { return outcome }
            #expect(spool.store(report, job: i))
            return .converted(report.retainedRecord(maxError: 0.5, keepingSummary: true))
        }
        // What is kept is small: the summary and the modules above the gate, names and errors alone.
        for case (.converted(let full), .converted(let kept)) in zip(whole, retained) {
            #expect(kept.notes.isEmpty && kept.provenance.options.isEmpty && kept.summary.worst.isEmpty)
            #expect(kept.summary.productErrorMedian == full.summary.productErrorMedian && kept.summary.modules == full.summary.modules)
            #expect(kept.modules.map(\.name) == full.modules.filter { !($0.errors.productError <= 0.5) }.map(\.name))
            #expect(kept.modules.allSatisfy { $0.method.isEmpty && $0.inFeatures == 0 })
        }

        let expected = try json(whole, maxError: 0.5, spool: nil)
        #expect(try json(retained, maxError: 0.5, spool: spool) == expected)
        // The text is what the whole document's serializer writes (NaN and ±∞ as null), and it
        // lists the non-finite figures by their place in the run.
        let text = String(decoding: expected, as: UTF8.self)
        let document = try JSONParser.parse(text)
        #expect(document.serialized(indent: 2) + "\n" == text)
        let nonFinite = document["non_finite"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(nonFinite.contains("inputs[3].modules[3].product_error") && nonFinite.contains("inputs[3].modules[5].rho_a"))
        #expect(nonFinite.contains { $0.hasPrefix("exceeded[") })
        #expect(document["inputs"]?.arrayValue?.compactMap { $0["status"]?.stringValue } == ["ok", "failed", "skipped", "ok"])

        // The Markdown summary, the annotations and the gate read the same from retained records.
        let exceeded = ReportJSON.exceeded(whole.compactMap(\.entry), maxError: 0.5)
        #expect(!exceeded.isEmpty)
        // (Compared as text: a NaN error is not equal to itself.)
        #expect(ReportJSON.exceeded(retained.compactMap(\.entry), maxError: 0.5).map { "\($0)" } == exceeded.map { "\($0)" })
        // The worst modules, gathered as inputs finish in any order, are the ones the reports give.
        var worst = CISummary.WorstModules()
        for (i, outcome) in whole.enumerated().reversed() {
            if case .converted(let report) = outcome { worst.add(report, position: i) }
        }
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
