import Foundation
import Testing
@testable import LoRDBA

/// Many inputs in one run and two runs into one folder, through the command as a user runs it.
///
/// `LORDBA_LOAD_ADAPTERS` sets the batch size (default 2 000 tiny kohya adapters, about 20 s in a
/// debug build); the figures are in `docs/security.md`.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BatchLoadTests {
    let convert = Tool(name: "lordba-convert")

    static var count: Int { ProcessInfo.processInfo.environment["LORDBA_LOAD_ADAPTERS"].flatMap(Int.init) ?? 2000 }

    /// `count` one-module kohya adapters (`in = 16`, `out = 8`, `r = 4`, alpha in the file).
    func adapters(_ dir: TempDir, count: Int) throws -> [String] {
        let folder = dir.mkdir("in")
        let name = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
        return try (0..<count).map { i in
            let tensors = [ReadingFixtures.tensor(name + ".lora_down.weight", [4, 16], seed: UInt64(2 * i + 1)),
                           ReadingFixtures.tensor(name + ".lora_up.weight", [8, 4], seed: UInt64(2 * i + 2)),
                           ReadingFixtures.tensor(name + ".alpha", [], [4])]
            let path = folder + "/a" + String(i + 10000).dropFirst() + ".safetensors"
            try Data(SafeTensorsWriter.serialize(tensors, metadata: nil)).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// Runs the tool through a small Python parent that applies `fileLimit` (RLIMIT_NOFILE) and
    /// reports the child's own peak resident size (`ru_maxrss` of its only child; a parent that
    /// spawned it directly would pass its own, larger, peak on to the child at exec). The parent
    /// passes on only the last 4 KiB of the tool's standard error (a gate's lines for thousands
    /// of inputs would fill the pipe this side reads after standard output).
    func measured(_ arguments: [String], fileLimit: Int) throws -> (status: Int32, peakKiB: Int, stderr: String) {
        let script = """
            import resource, subprocess, sys
            limit = int(sys.argv[1])
            def bound(): resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            child = subprocess.run(sys.argv[2:], preexec_fn=bound, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            sys.stderr.buffer.write(child.stderr[-4096:])
            print(child.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, String(fileLimit), convert.path] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: ReadingFixtures.packageRoot)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = stdout.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return (Int32(fields.first.flatMap { $0 } ?? -1), fields.last.flatMap { $0 } ?? 0, stderr)
    }

    /// One run over the whole batch: every output written and readable, no descriptor kept per
    /// input (the run may open only 24 descriptors for all 2 000 inputs: one leaked per input
    /// fails it within a few dozen), and memory held per input small, with and without a JSON
    /// report and a Markdown summary.
    @Test func largeBatchHoldsNeitherDescriptorsNorWorkingMemory() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let inputs = try adapters(dir, count: Self.count)
        let single = try measured([inputs[0], "--out-dir", dir.path + "/one", "--plain", "-q"], fileLimit: 24)
        #expect(single.status == 0, "\(single.stderr)")
        let batch = try measured(inputs + ["--out-dir", dir.path + "/out", "--plain", "-q", "--jobs", "2"], fileLimit: 24)
        #expect(batch.status == 0, "\(batch.stderr.prefix(500))")
        let outputs = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/out")
        #expect(outputs.count == inputs.count && outputs.allSatisfy { $0.hasSuffix(".lba") })
        for name in outputs.sorted().prefix(3) + outputs.sorted().suffix(3) {
            #expect(try LBAFile(path: dir.path + "/out/" + name).adapter.modules.count == 1)
        }
        // Without report files the run keeps of each input only its record; the batch's peak
        // stays within 1.2× of one conversion's. Two workers' peak varies by a few percent from
        // run to run with the threads' timing, so the lower of two runs is the figure.
        let again = try measured(inputs + ["--out-dir", dir.path + "/again", "--plain", "-q", "--jobs", "2"], fileLimit: 24)
        #expect(again.status == 0, "\(again.stderr.prefix(500))")
        let peak = min(batch.peakKiB, again.peakKiB)
        let perInput = Double(peak - single.peakKiB) / Double(inputs.count)
        print("batch of \(inputs.count): peak \(peak) KiB (\(batch.peakKiB), \(again.peakKiB)), single \(single.peakKiB) KiB, "
              + "ratio \(Double(peak) / Double(single.peakKiB)), \(perInput) KiB per input")
        #expect(single.peakKiB > 0 && Double(peak) <= 1.2 * Double(single.peakKiB))

        // With a JSON report and a Markdown summary the entries wait in a spool file and the
        // summary keeps only the worst modules so far; with a gate that every module trips, the
        // run keeps every module's name and error: the peak stays within 1.2× as well, and the
        // report holds every input. (One worker, so that what the peak adds is what the run
        // holds per input: a second worker's own working memory is already in the figure above.)
        let json = dir.path + "/run.json", markdown = dir.path + "/run.md"
        let reported = try measured(inputs + ["--out-dir", dir.path + "/reported", "--plain", "-q", "--jobs", "1",
                                              "--report-json", json, "--summary-md", markdown, "--max-error", "0.01"],
                                    fileLimit: 24)
        #expect(reported.status == 3, "\(reported.stderr.prefix(500))")
        print("batch of \(inputs.count) with --report-json, --summary-md and a gate: peak \(reported.peakKiB) KiB, "
              + "ratio \(Double(reported.peakKiB) / Double(single.peakKiB))")
        #expect(Double(reported.peakKiB) <= 1.2 * Double(single.peakKiB))
        let document = try JSONParser.parse(String(contentsOfFile: json, encoding: .utf8))
        let entries = document["inputs"]?.arrayValue ?? []
        #expect(entries.count == inputs.count)
        #expect(entries.compactMap { $0["input"]?.stringValue } == inputs)
        #expect(entries.allSatisfy { $0["modules"]?.arrayValue?.count == 1 })
        #expect(document["exceeded"]?.arrayValue?.count == inputs.count)
        let summary = try String(contentsOfFile: markdown, encoding: .utf8)
        #expect(summary.components(separatedBy: " | ok | ").count - 1 == inputs.count)
        #expect(summary.contains("### Worst modules"))
    }

    /// Two runs converting the same inputs with different options into one folder at once: every
    /// output is one run's file, whole (never torn or mixed), and no temporary file is left.
    @Test func concurrentRunsIntoOneFolderNeverTearAFile() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let inputs = try adapters(dir, count: 40)
        let variants = [["--plain"], ["--plain", "--scale-dtype", "f32"]]
        var expected: [[String: Data]] = []
        for (i, options) in variants.enumerated() {
            let out = dir.path + "/alone\(i)"
            let alone = try convert.run(inputs + ["--out-dir", out, "-q"] + options)
            #expect(alone.status == 0, "\(alone.stderr)")
            expected.append(Dictionary(uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: out).map {
                ($0, try Data(contentsOf: URL(fileURLWithPath: out + "/" + $0)))
            }))
        }
        #expect(expected[0].keys.allSatisfy { expected[0][$0] != expected[1][$0] })
        let shared = dir.path + "/shared"
        for round in 0..<2 {
            // Standard error goes to a file each, so a failure says why.
            let logs = variants.indices.map { dir.path + "/stderr-\(round)-\($0)" }
            let processes = try zip(variants, logs).map { options, log in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: convert.path)
                process.arguments = inputs + ["--out-dir", shared, "-q", "--force", "--jobs", "1"] + options
                process.standardOutput = FileHandle.nullDevice
                #expect(FileManager.default.createFile(atPath: log, contents: nil))
                process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
                return process
            }
            for process in processes { try process.run() }
            for process in processes { process.waitUntilExit() }
            let errors = try logs.map { try String(contentsOfFile: $0, encoding: .utf8) }
            #expect(processes.allSatisfy { $0.terminationStatus == 0 }, "round \(round): \(errors)")
            let names = try FileManager.default.contentsOfDirectory(atPath: shared)
            #expect(Set(names) == Set(expected[0].keys), "round \(round): \(names.filter { !$0.hasSuffix(".lba") })")
            for name in names {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: shared + "/" + name))
                #expect(bytes == expected[0][name] || bytes == expected[1][name], "round \(round): \(name) is neither run's file")
                #expect(throws: Never.self) { try LBAFile(bytes: [UInt8](bytes)) }
            }
        }
    }
}
