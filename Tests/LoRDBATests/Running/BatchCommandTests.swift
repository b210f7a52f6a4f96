import Foundation
import Testing
@testable import LoRDBA

/// The batch flags from the command line, the tool run as a subprocess with its output in pipes
/// (never a terminal).
@Suite struct BatchCommandTests {
    let convert = Tool(name: "lordba-convert")

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Tool.Outcome {
        try convert.run(arguments, environment: environment)
    }

    @Test func progressNeverReachesAPipeUnlessAskedAndNeverStandardOutput() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let sample = ReadingFixtures.sample("minilm-cls-r8")
        let auto = try run([sample, dir.path + "/a.lba", "--plain"])
        #expect(auto.status == 0)
        #expect(!auto.stderr.contains("\u{1B}") && !auto.stderr.contains("\r") && !auto.stderr.contains("modules ·"))
        // Into a pipe, `always` writes plain lines at most every 10 seconds (none in this short
        // run), never carriage-return redraws.
        let always = try run([sample, dir.path + "/b.lba", "--plain", "--progress", "always"])
        #expect(always.status == 0)
        #expect(!always.stderr.contains("\r") && !always.stderr.contains("\u{1B}"))
        #expect(!always.stdout.contains("\u{1B}") && !always.stdout.contains("\r"))
        let quiet = try run([sample, dir.path + "/c.lba", "--plain", "--progress", "always", "-q"])
        #expect(quiet.stderr.isEmpty && quiet.stdout.isEmpty)
        let bad = try run([sample, dir.path + "/d.lba", "--progress", "sometimes"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("auto") && bad.stderr.contains("always") && bad.stderr.contains("never"))
    }

    @Test func skipShardSummaryAndAnnotationsEndToEnd() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let inputs = ["a", "b", "c"].map { dir.path + "/in/" + $0 }
        _ = dir.mkdir("in")
        for (input, sample) in zip(inputs, ["minilm-cls-r8", "minilm-cls-r8", "tiny-llama-lora-f16"]) {
            try FileManager.default.copyItem(atPath: ReadingFixtures.sample(sample), toPath: input)
        }
        let out = dir.path + "/out"
        let step = dir.path + "/step.md"
        var reports: [String] = []
        for i in 1...2 {
            let report = dir.path + "/shard\(i).json"
            reports.append(report)
            let shard = try run(inputs + ["--out-dir", out, "--plain", "--shard", "\(i)/2", "--root", dir.path,
                                          "--report-json", report, "--max-error", "0.7"],
                                environment: ["GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": step])
            #expect(shard.status == 0 || shard.status == 3, "\(shard.stderr)")
            #expect(shard.stdout.contains("inputs: ") || shard.stdout.contains("ok "))
        }
        let summary = try String(contentsOfFile: step, encoding: .utf8)
        #expect(summary.components(separatedBy: "## lordba-convert:").count == 3)   // appended twice

        // Re-running the whole batch with --skip-existing converts nothing.
        let again = try run(inputs + ["--out-dir", out, "--plain", "--skip-existing", "--summary-md", dir.path + "/s.md"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("inputs: 0 converted, 3 skipped, 0 failed"))
        #expect(try String(contentsOfFile: dir.path + "/s.md", encoding: .utf8).contains("| skipped: up to date |"))

        // The merge is the gate: the tiny-llama copy has modules above 0.7, so exit 3 and a warning.
        let merged = try run(["merge-reports"] + reports + ["--report-json", dir.path + "/all.json"],
                             environment: ["GITHUB_ACTIONS": "true"])
        #expect(merged.status == 3, "\(merged.stderr)")
        #expect(merged.stdout.contains("::warning file=\(inputs[2]),title=lordba-convert%3A product error above --max-error 0.7::"))
        #expect(merged.stderr.contains("product error above --max-error 0.7 in \(inputs[2])"))
        // --max-error on the merge replaces the shards' threshold.
        let lenient = try run(["merge-reports"] + reports + ["--report-json", dir.path + "/lenient.json", "--max-error", "1"])
        #expect(lenient.status == 0, "\(lenient.stderr)")
        let document = try ReportReading.document(path: dir.path + "/lenient.json")
        #expect(document["max_error"]?.doubleValue == 1 && document["exceeded"]?.arrayValue?.isEmpty == true)
        #expect(lenient.stdout == "merged 2 reports: inputs: 3 converted, 0 skipped, 0 failed\n")
        let missing = try run(["merge-reports", reports[0], "--report-json", dir.path + "/part.json"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: missing shard 2/2: give every shard's report\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/part.json"))

        // A failed input is an ::error annotation.
        let broken = dir.path + "/in/broken.safetensors"
        try Data("nope".utf8).write(to: URL(fileURLWithPath: broken))
        let failed = try run([broken, "--out-dir", out, "--plain"], environment: ["GITHUB_ACTIONS": "true"])
        #expect(failed.status == 1)
        #expect(failed.stdout.hasPrefix("::error file=\(broken),title=lordba-convert%3A conversion failed::"))
        let piped = try run([broken, "--out-dir", out, "--plain", "--report-json", "-"], environment: ["GITHUB_ACTIONS": "true"])
        #expect(try JSONParser.parse(piped.stdout)["counts"]?["failed"]?.integerValue == 1)
        #expect(piped.stderr.contains("::error file=\(broken),"))
    }
}
