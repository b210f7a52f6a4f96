import Foundation
import Testing
@testable import LoRDBA

/// Runs a tool built beside the test bundle and captures its exit status and output.
struct Tool {
    let name: String

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    var path: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Runs the tool from the package root with extra environment variables (GitHub's are
    /// removed unless given, so a CI runner's annotations never change the output).
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: ReadingFixtures.packageRoot)
        var env = ProcessInfo.processInfo.environment
        env["GITHUB_ACTIONS"] = nil
        env["GITHUB_STEP_SUMMARY"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct ConvertCommandTests {
    let convert = Tool(name: "lordba-convert")

    @Test func convertsASampleAndPrintsOneSummary() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let result = try convert.run(["samples/minilm-cls-r8", dir.path + "/m.lba", "--plain"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok samples/minilm-cls-r8 → \(dir.path)/m.lba: 12 modules"))
        #expect(result.stdout.contains("product error median 0.46") || result.stdout.contains("product error median 0.47"))
        #expect(!result.stdout.contains("\u{1B}"))   // no colour when not on a terminal
        #expect(try LBAFile(path: dir.path + "/m.lba").adapter.modules.count == 12)
    }

    @Test func badInputIsOneLineNonZeroAndLeavesNothing() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bad = dir.write("bad.safetensors", Array("\u{10}\0\0\0\0\0\0\0{\"a\":1}".utf8))
        let result = try convert.run([bad, dir.path + "/bad.lba"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("error: \(bad): ") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/bad.lba"))
    }

    @Test(.tags(.slow), .slowNumeric) func maxErrorGateExitsThreeAndStillWrites() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let json = dir.path + "/r.json"
        let result = try convert.run(["samples/tiny-llama-lora-f16", dir.path + "/t.lba", "--plain", "--max-error", "0.7", "--report-json", json])
        #expect(result.status == 3)
        #expect(result.stderr.contains("above --max-error 0.7"))
        #expect(result.stderr.contains("layers.0.self_attn.o_proj"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/t.lba"))
        let document = try JSONParser.parse(String(contentsOfFile: json, encoding: .utf8))
        #expect(document["exceeded"]?.arrayValue?.isEmpty == false)
        let passing = try convert.run(["samples/tiny-llama-lora-f16", dir.path + "/t.lba", "--force", "--plain", "--max-error", "0.99"])
        #expect(passing.status == 0)
    }

    @Test func existingOutputNeedsForce() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let output = dir.write("keep.lba", text: "mine")
        let result = try convert.run(["samples/minilm-cls-r8", output, "--plain"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("output exists (use --force"))
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "mine")
    }

    @Test func batchWritesOnePerInputAndReportsFailures() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bad = dir.write("broken.safetensors", [0, 1])
        let result = try convert.run(["samples/minilm-cls-r8", bad, "samples/tiny-llama-lora-f16", "--out-dir", dir.path + "/out",
                                      "--jobs", "2", "--report-html", dir.path + "/r.html", "--plain"])
        #expect(result.status == 1)
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 2)
        #expect(result.stderr.contains("1 of 3 inputs failed"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/out").sorted()
        #expect(files == ["minilm-cls-r8.lba", "tiny-llama-lora-f16.lba"])
        let html = try String(contentsOfFile: dir.path + "/r.html", encoding: .utf8)
        #expect(html.contains("Failed inputs") && html.contains("broken.safetensors"))
    }

    @Test func usageErrorsExitWithUsageStatus() throws {
        let result = try convert.run(["a", "b", "c"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--out-dir"))
    }

    @Test func inspectShowsAndChecksBothKinds() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = dir.path + "/m.lba"
        #expect(try convert.run(["samples/minilm-cls-r8", lba, "--plain"]).status == 0)
        let shown = try convert.run(["inspect", lba])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("integrity ok"))
        #expect(shown.stdout.contains("base_model.model.classifier.weight F32 [2, 384]"))
        let source = try convert.run(["inspect", "samples/tiny-llama-lora-f16"])
        #expect(source.status == 0)
        #expect(source.stdout.contains("peft adapter, 28 LoRA modules"))
        // Flip one bit in the middle of the file: inspect must refuse it.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: lba)))
        bytes[bytes.count / 2] ^= 0x10
        let damaged = dir.write("damaged.lba", bytes)
        let refused = try convert.run(["inspect", damaged])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("error: \(damaged): "))
    }
}
