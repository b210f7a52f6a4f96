import Foundation
import Synchronization
import Testing
@testable import LoRDBA

/// What a user can rely on from the command line: standard output holds one document when a
/// report goes there, misspelt flags and misplaced files get one line saying what to do, Hub
/// cache folders and references resolve locally, progress without a terminal is plain lines.
@Suite struct OutputContractTests {
    let convert = Tool(name: "lordba-convert")
    let sample = "samples/minilm-cls-r8"

    @Test func aReportOnStandardOutputIsTheOnlyThingThere() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let result = try convert.run([sample, dir.path + "/m.lba", "--plain", "--report-json", "-"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try JSONParser.parse(result.stdout)["inputs"]?.arrayValue?.count == 1)
        #expect(result.stderr.hasPrefix("ok samples/minilm-cls-r8 → "))
    }

    @Test func standardOutputTakesOneDocumentAndNeverTheLBA() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let two = try convert.run([sample, dir.path + "/m.lba", "--report-json", "-", "--report-html", "-"])
        #expect(two.status == 64 && two.stderr.contains("--report-json and --report-html both write to standard output"))
        let dash = try convert.run([sample, "-"])
        #expect(dash.status == 64 && dash.stderr.contains("cannot be standard output"))
        #expect(!FileManager.default.fileExists(atPath: ReadingFixtures.packageRoot + "/-"))
        let export = try convert.run(["export", "x.lba", "--to", "peft", "-"])
        #expect(export.status == 64 && export.stderr.contains("standard output"))
    }

    @Test func messagesNameWhatToDo() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let typo = try convert.run([sample, dir.path + "/m.lba", "--report-jsn", dir.path + "/r.json"])
        #expect(typo.status == 64 && typo.stderr.contains("Unknown option '--report-jsn'. Did you mean '--report-json'?"))
        let lba = dir.path + "/m.lba"
        #expect(try convert.run([sample, lba, "--plain", "-q"]).status == 0)
        let again = try convert.run([lba, dir.path + "/n.lba"])
        #expect(again.status == 1 && again.stderr.contains("already a converted .lba file")
                && again.stderr.contains("lordba-convert inspect") && again.stderr.contains("lordba-convert export"))
        let folder = try convert.run([sample, dir.path + "/missing/m.lba"])
        #expect(folder.status == 1 && folder.stderr.contains("the folder \(dir.path)/missing does not exist"))
        let named = try convert.run([sample, dir.path + "/m.bin", "--plain", "-q"])
        #expect(named.status == 64 && named.stderr.contains("should end in .lba"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/m.bin"))
        #expect(try convert.run([sample, dir.path + "/m.bin", "--plain", "-q", "--force"]).status == 0)
    }

    @Test func inspectPrintsJSONAndThePrettyPrintedSourceConfig() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = dir.path + "/m.lba"
        #expect(try convert.run([sample, lba, "--plain", "-q"]).status == 0)
        let json = try convert.run(["inspect", lba, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let document = try JSONParser.parse(json.stdout)
        #expect(document["kind"] == .string("lba") && document["modules"]?.arrayValue?.count == 12)
        #expect(document["metadata"]?["lordba.source_config"]?["peft_type"] == .string("LORA"))
        let text = try convert.run(["inspect", lba]).stdout
        #expect(text.contains("  lordba.source_config:\n    {\n      \""))
        #expect(try JSONParser.parse(convert.run(["inspect", sample, "--json"]).stdout)["kind"] == .string("adapter"))
    }

    @Test func hubReferencesResolveFromTheLocalCacheOnly() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let repository = dir.path + "/hub/models--acme--tiny-lora"
        let snapshot = repository + "/snapshots/0123abcd"
        try FileManager.default.createDirectory(atPath: repository + "/refs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        try "0123abcd\n".write(toFile: repository + "/refs/main", atomically: true, encoding: .utf8)
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            try FileManager.default.copyItem(atPath: ReadingFixtures.packageRoot + "/" + sample + "/" + name, toPath: snapshot + "/" + name)
        }
        #expect(try HubCache.resolve("hf://acme/tiny-lora", root: dir.path + "/hub") == snapshot)
        #expect(try HubCache.resolve("hf://acme/tiny-lora@0123abcd", root: dir.path + "/hub") == snapshot)
        #expect(throws: HubCache.Problem.self) { try HubCache.resolve("hf://acme/other", root: dir.path + "/hub") }
        #expect(HubCache.root { ["HF_HOME": "/h"][$0] } == "/h/hub")
        #expect(HubCache.root { ["HF_HUB_CACHE": "/c", "HF_HOME": "/h"][$0] } == "/c")
        // A snapshot is named after its repository, not its commit.
        #expect(BatchConversion.output(for: snapshot, in: "out") == "out/acme--tiny-lora.lba")
        #expect(BatchConversion.output(for: snapshot + "/adapter_model.safetensors", in: "out") == "out/acme--tiny-lora.lba")
        let result = try convert.run(["hf://acme/tiny-lora", "--out-dir", dir.path + "/out", "--plain", "-q"],
                                     environment: ["HF_HUB_CACHE": dir.path + "/hub"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/out/acme--tiny-lora.lba"))
        let missing = try convert.run(["hf://acme/absent", dir.path + "/a.lba"], environment: ["HF_HUB_CACHE": dir.path + "/hub"])
        #expect(missing.status == 1 && missing.stderr.contains("not in the local Hub cache"))
        // An export finds the base model's config.json in the cache and says which file it used.
        #expect(HubCache.baseConfig(for: "acme/tiny-lora", root: dir.path + "/hub") == nil)
        try "{\"model_type\": \"llama\"}".write(toFile: snapshot + "/config.json", atomically: true, encoding: .utf8)
        #expect(HubCache.baseConfig(for: "acme/tiny-lora", root: dir.path + "/hub") == snapshot + "/config.json")
    }

    @Test func exportsFindTheBaseConfigInTheHubCacheAndSaySo() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = dir.path + "/m.lba"
        #expect(try convert.run([sample, lba, "--plain", "-q"]).status == 0)
        let repository = dir.path + "/hub/models--sentence-transformers--all-MiniLM-L6-v2"
        try FileManager.default.createDirectory(atPath: repository + "/snapshots/c0ffee", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repository + "/refs", withIntermediateDirectories: true)
        try "c0ffee".write(toFile: repository + "/refs/main", atomically: true, encoding: .utf8)
        try "{\"num_hidden_layers\": 9}".write(toFile: repository + "/snapshots/c0ffee/config.json", atomically: true, encoding: .utf8)
        let found = try convert.run(["export", lba, "--to", "mlx", dir.path + "/mlx"], environment: ["HF_HUB_CACHE": dir.path + "/hub"])
        #expect(found.status == 0, "\(found.stderr)")
        #expect(found.stdout.contains("note: base model config \(repository)/snapshots/c0ffee/config.json (base_model_name_or_path sentence-transformers/all-MiniLM-L6-v2, from the local Hub cache)"))
        let config = try JSONParser.parse(String(contentsOfFile: dir.path + "/mlx/adapter_config.json", encoding: .utf8))
        #expect(config["num_layers"] == .integer(9))
        let without = try convert.run(["export", lba, "--to", "mlx", dir.path + "/mlx2"], environment: ["HF_HUB_CACHE": dir.path + "/none"])
        #expect(without.status == 0 && !without.stdout.contains("base model config"))
    }

    @Test func progressWithoutATerminalIsPlainLinesAtMostEveryTenSeconds() {
        let drawn = Mutex<[String]>([])
        let meter = ProgressMeter(inputBytes: [10, 10], terminal: false, interval: .zero) { text in drawn.withLock { $0.append(text) } }
        for _ in 0..<50 { meter.moduleFinished(job: 0, done: 1, total: 2) }
        meter.inputFinished(job: 0)
        meter.printing {}
        meter.finish()
        #expect(drawn.withLock { $0 }.isEmpty, "a plain line was written before ten seconds passed")
        #expect(ProgressMeter.plainInterval == .seconds(10))
    }

    @Test func eachInputsOutcomeArrivesAsItFinishes() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var options = ConversionOptions()
        options.pipeline = .plain
        let request = ConversionRun.Request(inputs: [ReadingFixtures.sample("minilm-cls-r8"), ReadingFixtures.sample("tiny-llama-lora-f16"), dir.path + "/absent"], output: nil,
                                            outDirectory: dir.path, options: options, jobs: 2)
        let run = try ConversionRun(request)
        let seen = Mutex<[String]>([])
        let outcomes = run.convert { outcome in seen.withLock { $0.append(outcome.input) } }
        #expect(Set(seen.withLock { $0 }) == Set(outcomes.map(\.input)))
        #expect(seen.withLock { $0 }.count == 3)
    }
}
