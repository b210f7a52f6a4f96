import Foundation
import Testing
@testable import LoRDBA

/// `--shard I/N` and `merge-reports`: the partition, and shard reports merged back into the
/// single run's report.
@Suite struct ShardingTests {
    /// `count` inputs with random names and sizes (some equal, to exercise the tie-breaking).
    func items(_ count: Int, seed: UInt64) -> [ShardPartition.Item] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { i in
            let bytes = Int.random(in: 0..<6, using: &rng) == 0 ? 1000 : Int.random(in: 1...1_000_000, using: &rng)
            return ShardPartition.Item(path: "adapters/\(i)-\(UInt32.random(in: 0...UInt32.max, using: &rng))", bytes: bytes)
        }
    }

    @Test func everyInputIsInExactlyOneShardForOneToEightShards() {
        for n in 1...8 {
            for count in [0, 1, 5, 37] {
                let batch = items(count, seed: UInt64(n * 100 + count))
                let assigned = ShardPartition.assign(batch, shards: n)
                #expect(assigned.count == batch.count)
                #expect(assigned.allSatisfy { (0..<n).contains($0) })
                // Each shard's set, as ConversionRun takes it, and their union: every input once.
                var covered = [Int](repeating: 0, count: batch.count)
                for s in 0..<n { for i in assigned.indices where assigned[i] == s { covered[i] += 1 } }
                #expect(covered.allSatisfy { $0 == 1 })
                // Greedy balancing: no shard exceeds another by more than the largest input.
                if count >= n, n > 1 {
                    var load = [Int](repeating: 0, count: n)
                    for (i, s) in assigned.enumerated() { load[s] += batch[i].bytes }
                    #expect(load.max()! - load.min()! <= batch.map(\.bytes).max()!)
                }
            }
        }
    }

    @Test func partitionIsAPureFunctionOfPathsSizesAndCount() {
        let batch = items(40, seed: 7)
        let assigned = ShardPartition.assign(batch, shards: 5)
        var rng = SeededGenerator(seed: 9)
        let order = Array(batch.indices).shuffled(using: &rng)
        let shuffled = ShardPartition.assign(order.map { batch[$0] }, shards: 5)
        for (k, i) in order.enumerated() { #expect(shuffled[k] == assigned[i]) }
        // FNV-1a of "a" is a published constant: the hash does not depend on the machine.
        #expect(ShardPartition.stableHash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(Shard("2/8") == Shard(index: 2, count: 8))
        for bad in ["0/3", "4/3", "1/0", "a/b", "1/2/3", "", "1/", "+1/2"] { #expect(Shard(bad) == nil, "\(bad)") }
    }

    /// A folder holding copies of the samples: a, b (tiny-llama), c, d (minilm).
    func batch(in dir: TempDir) throws -> [String] {
        let inputs = dir.mkdir("in")
        for (name, sample) in [("a", "tiny-llama-lora-f16"), ("b", "tiny-llama-lora-f16"), ("c", "minilm-cls-r8"), ("d", "minilm-cls-r8")] {
            try FileManager.default.copyItem(atPath: ReadingFixtures.sample(sample), toPath: inputs + "/" + name)
        }
        return ["a", "b", "c", "d"].map { inputs + "/" + $0 }
    }

    func request(_ inputs: [String], out: String, report: String, shard: Shard? = nil, root: String? = nil) -> ConversionRun.Request {
        var options = ConversionOptions()
        options.pipeline = .plain
        options.overwrite = true
        var request = ConversionRun.Request(inputs: inputs, output: nil, outDirectory: out, options: options, jobs: 2,
                                            maxError: 0.7, reportJSONPath: report)
        request.shard = shard
        request.root = root
        return request
    }

    /// The document without `seconds` members (the only figures that differ between runs).
    func withoutTimings(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members): .object(members.filter { $0.0 != "seconds" }.map { ($0.0, withoutTimings($0.1)) })
        case .array(let items): .array(items.map(withoutTimings))
        default: value
        }
    }

    @Test func mergedShardReportsEqualTheSingleRunReport() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let inputs = try batch(in: dir)
        let out = dir.path + "/out"
        // The single run also writes an HTML page, so its outcomes are whole reports to draw from.
        var singleRequest = request(inputs, out: out, report: dir.path + "/single.json")
        singleRequest.reportHTMLPath = dir.path + "/single.html"
        let single = try ConversionRun(singleRequest)
        let singleOutcomes = single.convert()
        #expect(single.finish(singleOutcomes).status == .errorAboveThreshold)
        var reports: [(path: String, document: JSONValue)] = []
        var covered: [String] = []
        for i in 1...3 {
            let path = dir.path + "/shard\(i).json"
            let run = try ConversionRun(request(inputs, out: out, report: path, shard: Shard(index: i, count: 3), root: dir.path))
            covered += run.jobs.map(\.input)
            _ = run.finish(run.convert())
            reports.append((path, try ReportReading.document(path: path)))
        }
        #expect(covered.sorted() == inputs)
        let expected = try ReportReading.document(path: dir.path + "/single.json")
        let merged = try ReportMerge.merge(reports.reversed())
        #expect(withoutTimings(merged) == withoutTimings(expected))
        #expect(merged["counts"]?["converted"]?.integerValue == 4)
        #expect(merged["exceeded"]?.arrayValue?.isEmpty == false)
        let schema = try JSONParser.parse(String(contentsOfFile: ReadingFixtures.packageRoot + "/formats/report.schema.json", encoding: .utf8))
        #expect(SchemaValidator(root: schema).violations(of: reports[0].document) == [])
        #expect(SchemaValidator(root: schema).violations(of: merged) == [])

        // The reports read back from the merged JSON draw the same HTML page as the run's own
        // (timings and the unshown product norm aside).
        func untimed(_ outcomes: [RunOutcome]) -> [ConversionReport] {
            outcomes.compactMap { outcome in
                guard case .converted(var report) = outcome else { return nil }
                report.seconds = 0
                for i in report.modules.indices { report.modules[i].errors.productNorm = 0 }
                return report
            }
        }
        let readBack = try ReportReading.outcomes(merged, path: "merged")
        #expect(HTMLReport.page(untimed(readBack)) == HTMLReport.page(untimed(singleOutcomes)))

        // The HTML and Markdown of the merge show every converted input.
        let run = MergeRun(.init(reports: reports.map(\.path), reportJSONPath: dir.path + "/all.json",
                                 reportHTMLPath: dir.path + "/all.html", summaryMarkdownPath: dir.path + "/all.md"))
        let verdict = run.run()
        #expect(verdict.status == .errorAboveThreshold)
        #expect(verdict.counts == RunCounts(converted: 4))
        let html = try String(contentsOfFile: dir.path + "/all.html", encoding: .utf8)
        let markdown = try String(contentsOfFile: dir.path + "/all.md", encoding: .utf8)
        for input in inputs {
            #expect(html.contains(input))
            #expect(markdown.contains("| `\(input)` | ok |"))
        }
    }

    @Test func missingDuplicateAndForeignReportsAreRefused() throws {
        func shard(_ i: Int, _ n: Int, inputs: [String], positions: [Int], total: Int) -> JSONValue {
            .object([("schema_version", .integer(1)), ("tool", .string("lordba-convert")),
                     ("inputs", .array(inputs.map { RunReportJSON.skipped(input: $0, output: $0 + ".lba", reason: "up to date") })),
                     ("max_error", .null), ("exceeded", .array([])),
                     ("shard", ShardRecord(shard: Shard(index: i, count: n)!, inputsTotal: total, positions: positions).json)])
        }
        let one = shard(1, 2, inputs: ["x"], positions: [1], total: 2)
        let two = shard(2, 2, inputs: ["y"], positions: [0], total: 2)
        let merged = try ReportMerge.merge([("1.json", one), ("2.json", two)])
        #expect(merged["inputs"]?.arrayValue?.compactMap { $0["input"]?.stringValue } == ["y", "x"])
        #expect(merged["counts"]?["skipped"]?.integerValue == 2)
        // A shard's non-finite notes follow its inputs to their places in the batch.
        guard case .object(let members) = one else { return }
        let noted = JSONValue.object(members + [("non_finite", .array([.string("inputs[0].summary.product_error_max")]))])
        let renumbered = try ReportMerge.merge([("1.json", noted), ("2.json", two)])
        #expect(renumbered["non_finite"] == .array([.string("inputs[1].summary.product_error_max")]))
        #expect(throws: ReportMerge.MergeError.missingShards([2], of: 2)) { try ReportMerge.merge([("1.json", one)]) }
        #expect(throws: ReportMerge.MergeError.duplicateShard(index: 1, first: "1.json", second: "1b.json")) {
            try ReportMerge.merge([("1.json", one), ("1b.json", one), ("2.json", two)])
        }
        let again = shard(2, 2, inputs: ["x"], positions: [0], total: 2)
        #expect(throws: ReportMerge.MergeError.duplicateInput(input: "x", first: "1.json", second: "2.json")) {
            try ReportMerge.merge([("1.json", one), ("2.json", again)])
        }
        let whole = ReportJSON.document([], maxError: nil)
        #expect(throws: ReportMerge.MergeError.notAShard(path: "w.json")) { try ReportMerge.merge([("w.json", whole)]) }
        let three = shard(2, 3, inputs: ["y"], positions: [0], total: 2)
        #expect(throws: ReportMerge.MergeError.self) { try ReportMerge.merge([("1.json", one), ("3.json", three)]) }
    }
}
