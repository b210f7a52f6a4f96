import Foundation
import Testing
@testable import LoRDBA

/// Issue 10's classes through the command line and the run's library: non-finite figures,
/// file-system cases, catastrophic patterns. Each crafted input is made here.
@Suite(.timeLimit(.minutes(1))) struct HardeningCommandTests {
    let convert = Tool(name: "lordba-convert")
    let validate = Tool(name: "lordba-validate")

    /// A one-module PEFT adapter folder with the given config text.
    func peftAdapter(_ dir: TempDir, name: String = "model.layers.0.q_proj", config: String) -> String {
        let folder = dir.mkdir("adapter")
        let tensors = [ReadingFixtures.tensor("base_model.model.\(name).lora_A.weight", [4, 16], seed: 1),
                       ReadingFixtures.tensor("base_model.model.\(name).lora_B.weight", [8, 4], seed: 2)]
        try! Data(SafeTensorsWriter.serialize(tensors, metadata: nil)).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
        try! config.write(toFile: folder + "/adapter_config.json", atomically: true, encoding: .utf8)
        return folder
    }

    func entries(_ path: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? [] }

    // MARK: Non-finite arithmetic

    @Test func hugeAlphaIsRejectedNamingTheModuleNotWrittenAsInfinity() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let adapter = peftAdapter(dir, config: #"{"peft_type": "LORA", "r": 4, "lora_alpha": 1e308}"#)
        let result = try convert.run([adapter, dir.path + "/x.lba", "--plain"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("model.layers.0.q_proj") && result.stderr.contains("LoRA scale"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/x.lba"))
        // Large but finite in Float: the product bound still refuses it.
        let big = peftAdapter(TempDir(), config: #"{"peft_type": "LORA", "r": 4, "lora_alpha": 1e30}"#)
        defer { try? FileManager.default.removeItem(atPath: (big as NSString).deletingLastPathComponent) }
        let bigResult = try convert.run([big, dir.path + "/y.lba", "--plain"])
        #expect(bigResult.status == 1)
        #expect(bigResult.stderr.contains("Float range"))
    }

    @Test func nanProductErrorFailsTheGateAndIsNullInJSON() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var options = ConversionOptions()
        options.pipeline = .plain
        var request = ConversionRun.Request(inputs: [ReadingFixtures.sample("minilm-cls-r8")], output: dir.path + "/m.lba",
                                            outDirectory: nil, options: options, jobs: 1, maxError: 10,
                                            reportJSONPath: dir.path + "/r.json")
        let run = try ConversionRun(request)
        guard case .converted(var report) = run.convert()[0] else { Issue.record("conversion failed"); return }
        report.modules[0].errors.productError = .nan
        let verdict = run.finish([.converted(report)])
        #expect(verdict.status == .errorAboveThreshold)
        #expect(verdict.exceeded.map(\.module) == [report.modules[0].name])
        let text = try String(contentsOfFile: dir.path + "/r.json", encoding: .utf8)
        #expect(text.contains(#""product_error": null"#))
        let document = try JSONParser.parse(text)
        #expect(document["non_finite"]?.arrayValue?.first?.stringValue == "inputs[0].modules[0].product_error")
        // The terminal and HTML renderings do not trap either.
        _ = TerminalReport(colour: false).table(report)
        _ = HTMLReport.page([report])
        request.maxError = nil
    }

    @Test func validatorFinishesOnOverflowingScalesAndBoundsItsMemory() throws {
        var rng = SeededGenerator(seed: 3)
        var module = Fixtures.module(name: "huge", inFeatures: 16, outFeatures: 8, k: 2, inputScales: true, using: &rng)
        module.scales.middle = [3e38, 3e38]
        module.scales.output = [Float](repeating: 3e38, count: 8)
        let adapter = BinaryAdapter(layout: .peft, modules: [module], carried: [], metadata: [:], scaleDType: .f32)
        let file = try LBAFile(bytes: try LBAWriter().encode(adapter).bytes)
        var options = ValidationOptions()
        options.tokens = 4
        options.timing = false
        let result = try Validator.validate(file: file, path: "huge.lba", reference: nil, options: options)
        #expect(result.status != .passed)   // infinite outputs are a failure, never `ok`
        #expect(!ValidationReport.text(result).isEmpty)
        #expect(ValidationReport.json(result).serialized().contains("null"))
        // A module whose checks would need more than the memory limit is refused up front.
        options.memoryLimit = 1024
        #expect(throws: ValidatorError.self) { try Validator.validate(file: file, path: "huge.lba", reference: nil, options: options) }
    }

    // MARK: Bounded patterns

    @Test func catastrophicPatternFailsFastWithAClearError() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let name = "model." + String(repeating: "x", count: 40) + "yz"
        for key in ["(x+x+)+y", "(x|xx)+y"] {
            let adapter = peftAdapter(dir, name: name, config: #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {"\#(key)": 4}}"#)
            let clock = ContinuousClock()
            let start = clock.now
            #expect(throws: AdapterError.self) { try AdapterSource.open(adapter) }
            #expect(clock.now - start < .seconds(1))
            do { _ = try AdapterSource.open(adapter) } catch {
                #expect(error.description.contains("rank_pattern") && error.description.contains("limit"))
            }
            try FileManager.default.removeItem(atPath: adapter)
        }
    }

    // MARK: Files

    @Test func fifosAreRefusedWithoutBlocking() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let fifo = dir.path + "/pipe"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(throws: AdapterError.self) { try AdapterSource.open(fifo) }
        #expect(throws: (any Error).self) { try Inspector.describe(fifo) }
        #expect(throws: (any Error).self) { try CalibrationStats(path: fifo) }
        #expect(throws: AdapterError.self) { try AdapterSource.open(ReadingFixtures.sample("minilm-cls-r8"), configPath: fifo) }
        let inspected = try convert.run(["inspect", fifo])
        #expect(inspected.status == 1)
        #expect(inspected.stderr.contains(fifo) && inspected.stderr.contains("not a regular file"))
        let viaFlag = try convert.run(["samples/minilm-cls-r8", dir.path + "/o.lba", "--calibration", fifo])
        #expect(viaFlag.status == 1)
    }

    @Test func symbolicLinkLoopIsNotReportedAsMissing() throws {
        let dir = TempDir()
        defer { dir.remove() }
        #expect(symlink(dir.path + "/loop", dir.path + "/loop") == 0)
        let result = try convert.run([dir.path + "/loop", dir.path + "/o.lba"])
        #expect(result.status == 1)
        #expect(!result.stderr.contains("no such file"))
        #expect(result.stderr.lowercased().contains("symbolic links"))
    }

    @Test func noOutputEverReplacesAnInput() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = dir.path + "/w.safetensors"
        try FileManager.default.copyItem(atPath: ReadingFixtures.sample("minilm-cls-r8") + "/adapter_model.safetensors", toPath: weights)
        let config = dir.path + "/adapter_config.json"
        try FileManager.default.copyItem(atPath: ReadingFixtures.sample("minilm-cls-r8") + "/adapter_config.json", toPath: config)
        let before = try Data(contentsOf: URL(fileURLWithPath: weights))
        // The same path as input and output, a hard link to the input, a report over the config.
        #expect(link(weights, dir.path + "/alias.lba") == 0)
        for arguments in [[weights, weights, "--force"], [weights, dir.path + "/alias.lba", "--force"],
                          [weights, dir.path + "/o.lba", "--force", "--report-json", config],
                          [weights, dir.path + "/o.lba", "--force", "--report-html", weights]] {
            let result = try convert.run(arguments + ["--plain"])
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.contains("refusing to write over the input"), "\(arguments): \(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: weights)) == before)
        #expect(FileManager.default.fileExists(atPath: config))
        // lordba-validate --json never replaces the file it validates.
        #expect(try convert.run([weights, dir.path + "/v.lba", "--plain"]).status == 0)
        let validated = try validate.run([dir.path + "/v.lba", "--no-timing", "--tokens", "4", "--json", dir.path + "/v.lba"])
        #expect(validated.status == 1)
        #expect(try LBAFile(path: dir.path + "/v.lba").adapter.modules.count == 12)
    }

    @Test func validateJSONObeysForce() throws {
        let dir = TempDir()
        defer { dir.remove() }
        #expect(try convert.run(["samples/minilm-cls-r8", dir.path + "/v.lba", "--plain"]).status == 0)
        let report = dir.write("v.json", text: "keep")
        let arguments = [dir.path + "/v.lba", "--no-timing", "--tokens", "4", "--json", report]
        let refused = try validate.run(arguments)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("exists (use --force to replace it)"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: report, encoding: .utf8) == "keep")
        let forced = try validate.run(arguments + ["--force"])
        #expect(forced.status == 0)
        #expect(try String(contentsOfFile: report, encoding: .utf8).hasPrefix("{"))
    }

    @Test func reportsObeyForceAndOnlyRegularFilesAreReplaced() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let report = dir.write("r.json", text: "keep")
        let refused = try convert.run(["samples/minilm-cls-r8", dir.path + "/a.lba", "--plain", "--report-json", report])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("report exists (use --force"))
        #expect(try String(contentsOfFile: report, encoding: .utf8) == "keep")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/a.lba"))
        let forced = try convert.run(["samples/minilm-cls-r8", dir.path + "/a.lba", "--plain", "--report-json", report, "--force"])
        #expect(forced.status == 0)
        #expect(try String(contentsOfFile: report, encoding: .utf8).hasPrefix("{"))
        // --force on a symbolic link or a FIFO: an error, and both are left alone.
        let target = dir.write("target.txt", text: "target")
        #expect(symlink(target, dir.path + "/link.lba") == 0)
        #expect(mkfifo(dir.path + "/fifo.lba", 0o600) == 0)
        for output in [dir.path + "/link.lba", dir.path + "/fifo.lba"] {
            let result = try convert.run(["samples/minilm-cls-r8", output, "--plain", "--force"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("only regular files are replaced"))
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.path + "/link.lba") == target)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "target")
        // `-` is standard output.
        let printed = try convert.run(["samples/minilm-cls-r8", dir.path + "/b.lba", "--plain", "-q", "--report-json", "-"])
        #expect(printed.status == 0)
        #expect(try JSONParser.parse(printed.stdout)["tool"]?.stringValue == "lordba-convert")
    }

    @Test func unwritableOutDirIsAnIOError() throws {
        let result = try convert.run(["samples/minilm-cls-r8", "--out-dir", "/proc/self/no/such/dir"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--out-dir"))
    }

    @Test func staleTemporariesAreReportedAndRemovedWithForce() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let stale = dir.write("o.lba" + TemporaryFiles.marker + "old", text: "partial")
        // One as old but still being written: its writer (here, this process) holds its lock.
        let held = dir.write("o.lba" + TemporaryFiles.marker + "held", text: "partial")
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, stale, &times, 0) == 0 && utimensat(AT_FDCWD, held, &times, 0) == 0)
        let writer = open(held, O_WRONLY)
        defer { close(writer) }
        #expect(writer >= 0 && flock(writer, LOCK_EX | LOCK_NB) == 0)
        let warned = try convert.run(["samples/minilm-cls-r8", dir.path + "/o.lba", "--plain", "-q"])
        #expect(warned.status == 0)
        #expect(warned.stderr.contains("left by an interrupted run") && warned.stderr.contains(stale))
        #expect(!warned.stderr.contains(held))
        #expect(FileManager.default.fileExists(atPath: stale))
        let forced = try convert.run(["samples/minilm-cls-r8", dir.path + "/o.lba", "--plain", "-q", "--force"])
        #expect(forced.status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale) && FileManager.default.fileExists(atPath: held))
        #expect(unlink(held) == 0)
        #expect(entries(dir.path) == ["o.lba"])
    }

    @Test func signalsLeaveNoTemporaryFiles() throws {
        // Each run is frozen (SIGSTOP) the moment a temporary file appears, sent the signal,
        // then resumed: it dies inside its write window, and its temporary file must be gone.
        var caught = 0
        for (n, signal) in [SIGINT, SIGTERM, SIGHUP].enumerated() {
            let dir = TempDir()
            defer { dir.remove() }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: convert.path)
            process.arguments = ["samples/minilm-cls-r8", dir.path + "/k\(n).lba", "--plain", "-q",
                                 "--report-html", dir.path + "/k\(n).html", "--report-json", dir.path + "/k\(n).json"]
            process.currentDirectoryURL = URL(fileURLWithPath: ReadingFixtures.packageRoot)
            try process.run()
            while process.isRunning {
                if entries(dir.path).contains(where: { $0.contains(TemporaryFiles.marker) }) {
                    kill(process.processIdentifier, SIGSTOP)
                    kill(process.processIdentifier, signal)
                    kill(process.processIdentifier, SIGCONT)
                    caught += 1
                    break
                }
            }
            process.waitUntilExit()
            #expect(entries(dir.path).filter { $0.contains(TemporaryFiles.marker) } == [])
        }
        #expect(caught >= 1)   // at least one run was stopped in its write window
    }
}
