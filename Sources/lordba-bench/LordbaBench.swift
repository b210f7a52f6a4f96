import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

@main
struct LordbaBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lordba-bench",
        abstract: "Benchmarks for the LoRDBA toolchain; every figure is measured in the run that prints it.",
        discussion: "Exit codes: 0 the benchmark ran (and its outputs were identical where compared); 1 a run failed or outputs differed; 64 bad command-line usage.",
        version: ToolVersion.current,
        subcommands: [ConvertBench.self, QualityBench.self, GEMMBench.self, GenerateCommand.self, ExportPrecisionBench.self, ApplyCommand.self])
}

/// Times `lordba-convert` on a generated LLaMA-7B-shaped adapter, in child processes so that
/// peak memory and CPU time are the converter's own (``measureProcess`` resets this process's
/// peak before each spawn, so the generator's memory is not counted), side by side with a lean
/// numpy script when one is given and present; then the time per stage, in-process.
struct ConvertBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Generate a LLaMA-7B-shaped LoRA (32 layers, q,k,v,o,gate,up,down, r=16, fp16) and time its conversion.")

    @Option(help: "Folder for the generated adapter (reused when present).", completion: .directory)
    var workDir = "/tmp/lordba-bench"

    @Option(help: "LoRA rank of the generated adapter.")
    var rank = 16

    @Option(help: "Timed runs of each side-by-side command, alternating (medians are reported).")
    var runs = 5

    @Option(help: "Worker threads for the timed runs.")
    var jobs = ProcessInfoCores.count

    @Option(help: "A numpy reference script (usage: SCRIPT ADAPTER OUT), run alternately with --plain when python3 has numpy; without it the numpy row and the ratios are left out.",
            completion: .file(extensions: ["py"]))
    var numpyScript: String?

    @Flag(help: "Skip the default pipeline (its runs take tens of seconds).")
    var plainOnly = false

    func run() throws {
        let adapterDir = "\(workDir)/llama7b-r\(rank)"
        let weights = "\(adapterDir)/adapter_model.safetensors"
        if access(weights, R_OK) != 0 {
            print("generating \(adapterDir) …")
            try SyntheticAdapter.llama7B(rank: rank).write(to: adapterDir)
        }
        let converter = siblingExecutable("lordba-convert")
        let inputBytes = fileSize(weights)
        print("input          \(Format.bytes(inputBytes)) (\(weights))")
        print("CPU path       \(CPUDispatch.current.rawValue) (kernels dispatched at run time; LORDBA_CPU=sse2|avx2 forces one)")

        // 1. The conversion path itself (--plain) beside the numpy script: alternating runs, medians.
        var commands: [(name: String, path: String, args: [String], env: [String: String])] = [
            ("lordba-convert --plain --jobs \(jobs)", converter,
             [adapterDir, "\(workDir)/plain.lba", "--force", "--quiet", "--plain", "--jobs", String(jobs)], [:]),
            ("lordba-convert --plain --jobs 1", converter,
             [adapterDir, "\(workDir)/plain-single.lba", "--force", "--quiet", "--plain", "--jobs", "1"], [:]),
            ("  same, LORDBA_CPU=sse2", converter,
             [adapterDir, "\(workDir)/plain-sse2.lba", "--force", "--quiet", "--plain", "--jobs", "1"], ["LORDBA_CPU": "sse2"]),
        ]
        let numpy = numpyAvailable()
        if let python = numpy, let numpyScript {
            commands.append(("numpy \(numpyScript.split(separator: "/").last ?? "")", python,
                             [numpyScript, adapterDir, "\(workDir)/numpy.out"], [:]))
        } else if let numpyScript {
            print("numpy          not run (\(numpyScript) or python3 with numpy missing)")
        }
        var samples = [[Measurement]](repeating: [], count: commands.count)
        for _ in 0..<runs {
            for (i, c) in commands.enumerated() {
                let m = try measureProcess(c.path, c.args, environment: c.env)
                guard m.status == 0 else { throw ValidationError("\(c.name) exited with status \(m.status)") }
                samples[i].append(m)
            }
        }
        print("side by side   \(runs) alternating runs each, medians (wall and CPU = user + system of the child)")
        let medians = samples.map(Measurement.median)
        var rows: [[String]] = []
        for (i, c) in commands.enumerated() {
            let m = medians[i]
            rows.append([c.name, Format.fixed(m.wall, 3), Format.fixed(m.cpu, 3), Format.bytes(m.peak),
                         Format.fixed(Double(m.peak) / Double(inputBytes), 2) + "×"])
        }
        print(Format.alignedTable(header: ["command", "wall s", "CPU s", "peak", "peak/input"], rows: rows, leftColumns: [0]))
        if numpy != nil {
            let plain = medians[0], single = medians[1], reference = medians[commands.count - 1]
            print("ratio to numpy --plain --jobs \(jobs): wall \(Format.fixed(plain.wall / reference.wall, 2))× (target ≤ 0.5×), CPU \(Format.fixed(plain.cpu / reference.cpu, 2))× (target ≤ 1.0×); --jobs 1: wall \(Format.fixed(single.wall / reference.wall, 2))×, CPU \(Format.fixed(single.cpu / reference.cpu, 2))×")
        }
        print("peak memory    \(Format.fixed(Double(medians[0].peak) / Double(inputBytes), 2))× the input (target ≤ 1.2×); output \(Format.bytes(fileSize("\(workDir)/plain.lba")))")
        print("               the converter's own peak (ru_maxrss of the child; this process's peak is reset before each spawn, so at most its resident \(Format.bytes(medians[0].floor)) at spawn shows through)")

        // 2. Where the time goes, stage by stage (one thread, in-process).
        let plainStages = try StageTiming.measure(adapterDir: adapterDir, output: "\(workDir)/plain-stages.lba", options: .plain)
        print(plainStages.printed(title: "--plain stages"))

        // 3. The default pipeline: factorizer auto, closed-form refit, sign search.
        var outputs = [("plain --jobs 1", "plain-single.lba"), ("plain LORDBA_CPU=sse2", "plain-sse2.lba"),
                       ("plain in-process", "plain-stages.lba")]
        if !plainOnly {
            let refined = try measureProcess(converter, [adapterDir, "\(workDir)/default.lba", "--force", "--quiet", "--jobs", String(jobs)])
            guard refined.status == 0 else { throw ValidationError("lordba-convert (default) exited with status \(refined.status)") }
            print("default        \(Format.fixed(refined.wall, 2)) s wall, \(Format.fixed(refined.cpu, 2)) s CPU (auto factorization + refit + \(SignDescent.defaultRounds) rounds of sign search; target ≤ 4 s wall), peak \(Format.bytes(refined.peak))")
            let defaultStages = try StageTiming.measure(adapterDir: adapterDir, output: "\(workDir)/default-stages.lba", options: PipelineOptions())
            print(defaultStages.printed(title: "default stages"))
            let single = try measureProcess(converter, [adapterDir, "\(workDir)/default-single.lba", "--force", "--quiet", "--jobs", "1"],
                                            environment: ["LORDBA_CPU": "sse2"])
            guard single.status == 0 else { throw ValidationError("lordba-convert --jobs 1 failed") }
            print("default        --jobs 1 LORDBA_CPU=sse2: \(Format.fixed(single.wall, 2)) s wall")
            outputs.append(("default --jobs 1 LORDBA_CPU=sse2", "default-single.lba"))
        }

        // 4. Determinism: the same bytes for any thread count, CPU path, and in-process.
        var identical = true
        let plainBytes = try readAll("\(workDir)/plain.lba")
        let defaultBytes = plainOnly ? [] : try readAll("\(workDir)/default.lba")
        for (name, file) in outputs {
            let same = try readAll("\(workDir)/\(file)") == (name.hasPrefix("default") ? defaultBytes : plainBytes)
            identical = identical && same
            print("identical      \(name) vs --jobs \(jobs): \(same ? "yes" : "NO")")
        }
        if !identical { throw ExitCode(1) }
    }

    /// The Python interpreter itself (not a version-manager shim, whose start-up would count
    /// against the script) when `python3` has numpy and the script exists.
    func numpyAvailable() -> String? {
        guard let numpyScript, access(numpyScript, R_OK) == 0,
              let pipe = popen("python3 -c 'import numpy, sys; print(sys.executable)' 2>/dev/null", "r") else { return nil }
        var buffer = [CChar](repeating: 0, count: 4096)
        let line = fgets(&buffer, Int32(buffer.count), pipe) != nil
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        guard pclose(pipe) == 0 else { return nil }
        let path = line.trimmingCharacters(in: "\n")
        return path.isEmpty || access(path, X_OK) != 0 ? nil : path
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// The path of another executable built beside this one.
func siblingExecutable(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return name }
    let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/" + name
}

func fileSize(_ path: String) -> Int {
    FileSystem.status(path).map { Int($0.st_size) } ?? 0
}

func readAll(_ path: String) throws -> [UInt8] {
    let file = try MappedFile(path: path)
    return file.withBytes { Array($0) }
}
