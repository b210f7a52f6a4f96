import Foundation
import Testing
@testable import LoRDBA

/// `--skip-existing`: exactly the up-to-date outputs are skipped; a changed option or input is
/// converted again, replacing the outdated `.lba`.
@Suite struct SkipExistingTests {
    func request(_ inputs: [String], out: String, scaleDType: ScaleDType = .e4m3) -> ConversionRun.Request {
        var options = ConversionOptions()
        options.pipeline = .plain
        options.pipeline.scaleDType = scaleDType
        var request = ConversionRun.Request(inputs: inputs, output: nil, outDirectory: out, options: options, jobs: 2)
        request.skipExisting = true
        return request
    }

    func statuses(_ outcomes: [RunOutcome]) -> [String] {
        outcomes.map { outcome in
            switch outcome {
            case .converted: "converted"
            case .skipped: "skipped"
            case .failed: "failed"
            }
        }
    }

    func run(_ request: ConversionRun.Request) throws -> [RunOutcome] {
        let run = try ConversionRun(request)
        let outcomes = run.convert()
        #expect(run.finish(outcomes).counts == RunCounts(outcomes))
        return outcomes
    }

    @Test func skipsExactlyTheUpToDateOutputs() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let folder = dir.mkdir("in")
        for (name, sample) in [("a", "minilm-cls-r8"), ("b", "minilm-cls-r8"), ("c", "tiny-llama-lora-f16")] {
            try FileManager.default.copyItem(atPath: ReadingFixtures.sample(sample), toPath: folder + "/" + name)
        }
        let inputs = ["a", "b", "c"].map { folder + "/" + $0 }
        let out = dir.path + "/out"
        #expect(statuses(try run(request(inputs, out: out))) == ["converted", "converted", "converted"])
        let first = try inputs.map { try Data(contentsOf: URL(fileURLWithPath: BatchConversion.output(for: $0, in: out))) }

        // Nothing changed: everything skipped, nothing rewritten.
        let again = try run(request(inputs, out: out))
        #expect(statuses(again) == ["skipped", "skipped", "skipped"])
        #expect(RunCounts(again) == RunCounts(skipped: 3))

        // The input of b changes (another adapter's weights): only b converts, without --force.
        try FileManager.default.removeItem(atPath: folder + "/b/adapter_model.safetensors")
        try FileManager.default.copyItem(atPath: ReadingFixtures.sample("tiny-llama-lora-f16") + "/adapter_model.safetensors",
                                         toPath: folder + "/b/adapter_model.safetensors")
        try FileManager.default.removeItem(atPath: folder + "/b/adapter_config.json")
        try FileManager.default.copyItem(atPath: ReadingFixtures.sample("tiny-llama-lora-f16") + "/adapter_config.json",
                                         toPath: folder + "/b/adapter_config.json")
        #expect(OutputFreshness.check(output: out + "/b.lba", input: inputs[1], options: request(inputs, out: out).options)
                == .outdated("the input changed"))
        #expect(statuses(try run(request(inputs, out: out))) == ["skipped", "converted", "skipped"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/a.lba")) == first[0])
        // b now holds c's adapter: its new .lba is c's, byte for byte.
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/b.lba")) == first[2])

        // An option changes: everything converts again, and then is up to date with it.
        #expect(statuses(try run(request(inputs, out: out, scaleDType: .f16))) == ["converted", "converted", "converted"])
        #expect(statuses(try run(request(inputs, out: out, scaleDType: .f16))) == ["skipped", "skipped", "skipped"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/a.lba")) != first[0])

        // A file that is not a .lba at an output path is not ours to replace: it fails without --force.
        try Data("not a lba".utf8).write(to: URL(fileURLWithPath: out + "/c.lba"))
        let foreign = try run(request(inputs, out: out, scaleDType: .f16))
        #expect(statuses(foreign) == ["skipped", "skipped", "failed"])
        var forced = request(inputs, out: out, scaleDType: .f16)
        forced.options.overwrite = true
        #expect(statuses(try run(forced)) == ["skipped", "skipped", "converted"])
    }

    @Test func reportRecordsSkippedInputsAndCounts() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = ReadingFixtures.sample("minilm-cls-r8")
        let out = dir.path + "/out"
        _ = try run(request([input], out: out))
        var req = request([input], out: out)
        req.reportJSONPath = dir.path + "/r.json"
        let run = try ConversionRun(req)
        #expect(run.finish(run.convert()).status == .success)
        let document = try ReportReading.document(path: dir.path + "/r.json")
        #expect(document["inputs"]?[0]?["status"]?.stringValue == "skipped")
        #expect(document["counts"] == RunCounts(skipped: 1).json)
        #expect(document["shard"] == .null)
        let schema = try JSONParser.parse(String(contentsOfFile: ReadingFixtures.packageRoot + "/formats/report.schema.json", encoding: .utf8))
        #expect(SchemaValidator(root: schema).violations(of: document) == [])
    }
}

extension JSONValue {
    /// Element `i` of an array, or nil.
    subscript(i: Int) -> JSONValue? {
        guard let items = arrayValue, items.indices.contains(i) else { return nil }
        return items[i]
    }
}
