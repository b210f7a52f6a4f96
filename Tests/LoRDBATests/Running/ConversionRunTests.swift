import Foundation
import Testing
@testable import LoRDBA

/// The command's policy, called as a library: planning, the gate, report files, exit status.
@Suite struct ConversionRunTests {
    func request(_ inputs: [String], output: String? = nil, outDirectory: String? = nil) -> ConversionRun.Request {
        var options = ConversionOptions()
        options.pipeline = .plain
        return .init(inputs: inputs, output: output, outDirectory: outDirectory, options: options, jobs: 2)
    }

    @Test func twoInputsWithOneOutputNameAreRefusedBeforeAnythingIsWritten() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let out = dir.path + "/out"
        #expect(throws: ConversionRun.PlanError.self) {
            try ConversionRun(request(["a/adapter_model.safetensors", "b/a/adapter_model.safetensors"], outDirectory: out))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        let run = try ConversionRun(request(["x/one", "y/two.safetensors"], outDirectory: out))
        #expect(run.jobs.map(\.output) == [out + "/one.lba", out + "/two.lba"])
        #expect(throws: ConversionRun.PlanError.self) { try ConversionRun(request(["a", "b"])) }
    }

    @Test func gateIsComputedOnceAndDecidesStatusAndReport() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var req = request([ReadingFixtures.sample("minilm-cls-r8")], output: dir.path + "/m.lba")
        req.maxError = 0.5
        req.reportJSONPath = dir.path + "/r.json"
        let run = try ConversionRun(req)
        let entries = run.convert()
        let verdict = run.finish(entries)
        guard case .converted(let report) = entries[0] else { Issue.record("conversion failed"); return }
        let above = report.modules.filter { $0.errors.productError > 0.5 }.map(\.name)
        #expect(!above.isEmpty)
        #expect(verdict.exceeded.map(\.module) == above)
        #expect(verdict.status == .errorAboveThreshold)
        #expect(verdict.messages.last?.hasPrefix("product error above --max-error 0.5") == true)
        let document = try JSONParser.parse(String(contentsOfFile: dir.path + "/r.json", encoding: .utf8))
        #expect(document["exceeded"]?.arrayValue?.compactMap { $0["module"]?.stringValue } == above)

        var lenient = req
        lenient.maxError = 1
        lenient.reportJSONPath = nil
        #expect(try ConversionRun(lenient).finish(entries).status == .success)
        let failed = run.finish(entries + [.failed(input: "x", output: "x.lba", reason: "x: broken")])
        #expect(failed.status == .failed)
    }
}
