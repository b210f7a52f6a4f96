import Foundation
import Testing
@testable import LoRDBA

/// `lordba-convert` on the inputs users have: diffusers files, raw PEFT state dicts, pickles.
@Suite struct InputsCommandTests {
    let convert = Tool(name: "lordba-convert")
    typealias I = InputFixtures

    @Test func convertsADiffusersFileEndToEnd() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = I.writeDiffusers(in: dir)
        let out = dir.path + "/d.lba"
        let json = dir.path + "/report.json"
        let result = try convert.run([weights, out, "--plain", "--report-json", json])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok \(weights) → \(out): 4 modules"))
        // The report names the new layout and still follows the documented schema.
        let document = try JSONParser.parse(String(contentsOfFile: json, encoding: .utf8))
        let schema = try JSONParser.parse(String(contentsOfFile: ReadingFixtures.packageRoot + "/formats/report.schema.json", encoding: .utf8))
        #expect(SchemaValidator(root: schema).violations(of: document) == [])
        #expect(document["inputs"]?.arrayValue?.first?["layout"] == .string("diffusers"))
        let file = try LBAFile(path: out)
        #expect(file.adapter.layout == .diffusers && file.version == LBAVersion(major: 1, minor: 1))
        #expect(file.adapter.modules.map(\.loraScale).sorted() == I.expectedScales.sorted())
        let inspect = try convert.run(["inspect", out])
        #expect(inspect.status == 0 && inspect.stdout.contains("diffusers"), "\(inspect.stdout)")
    }

    @Test func adapterNameFlagPicksOneAdapter() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("adapter_config.json", text: I.rawConfig)
        let weights = dir.writeTensors("adapter_model.safetensors", I.rawPEFTTensors())
        let out = dir.path + "/s.lba"
        let refused = try convert.run([weights, out])
        #expect(refused.status == 1)
        #expect(refused.stderr == "error: \(weights): the file holds 2 adapters (default, style); pick one with --adapter-name NAME\n")
        #expect(!FileManager.default.fileExists(atPath: out))
        // inspect still shows the file, and says what conversion needs.
        let inspect = try convert.run(["inspect", weights])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.hasSuffix("not convertible: the file holds 2 adapters (default, style); pick one with --adapter-name NAME\n"), "\(inspect.stdout)")
        let result = try convert.run([weights, out, "--plain", "--adapter-name", "style"])
        #expect(result.status == 0, "\(result.stderr)")
        let file = try LBAFile(path: out)
        #expect(file.adapter.modules.map(\.name) == I.rawPaths.map { "base_model.model." + $0 })
        #expect(file.adapter.carried.map(\.name) == I.rawPaths.map { "base_model.model." + $0 + ".lora_magnitude_vector" })
    }

    @Test func pickleIsRefusedWithTheCommand() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bin = dir.write("adapter_model.bin", [0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0])
        let result = try convert.run([dir.path, dir.path + "/p.lba"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("error: \(bin): the file is a zip archive (torch.save format): a pickled PyTorch checkpoint") == true)
        #expect(lines.first?.hasSuffix("'\(dir.path)/adapter_model.safetensors')\"") == true)
    }
}
