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
        subcommands: [ConvertBench.self, QualityBench.self, GEMMBench.self])
}

/// Times `lordba-convert` on a generated LLaMA-7B-shaped adapter, in child processes so that
/// peak memory is the converter's own.
struct ConvertBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Generate a LLaMA-7B-shaped LoRA (32 layers, q,k,v,o,gate,up,down, r=16, fp16) and time its conversion.")

    @Option(help: "Folder for the generated adapter (reused when present).")
    var workDir = "/tmp/lordba-bench"

    @Option(help: "LoRA rank of the generated adapter.")
    var rank = 16

    @Option(help: "Timed runs (the median is reported).")
    var runs = 3

    @Option(help: "Worker threads for the timed runs.")
    var jobs = ProcessInfoCores.count

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

        // 1. The conversion path itself (--plain): speed and memory, median of several runs.
        var times: [Double] = []
        var peaks: [Int] = []
        for run in 0..<runs {
            let (seconds, peak, status) = try measure(converter, [adapterDir, "\(workDir)/plain-\(run).lba", "--force", "--quiet", "--plain", "--jobs", String(jobs)])
            guard status == 0 else { throw ValidationError("lordba-convert exited with status \(status)") }
            times.append(seconds)
            peaks.append(peak)
        }
        let median = times.sorted()[times.count / 2]
        let peak = peaks.max() ?? 0
        print("plain          \(Format.fixed(median, 3)) s median of \(runs) (min \(Format.fixed(times.min()!, 3)), max \(Format.fixed(times.max()!, 3))), \(Format.fixed(Double(inputBytes) / 1e6 / median, 1)) MB/s, --jobs \(jobs)")
        print("  peak memory  \(Format.bytes(peak)) = \(Format.fixed(Double(peak) / Double(inputBytes), 2))× the input (target < 1.5×)")
        print("  output       \(Format.bytes(fileSize("\(workDir)/plain-0.lba"))) (\(Format.ratio(Double(inputBytes) / Double(fileSize("\(workDir)/plain-0.lba")))) smaller)")

        // 2. The default pipeline: factorizer auto, closed-form refit, straight-through refinement.
        let (refined, refinedPeak, refinedStatus) = try measure(converter, [adapterDir, "\(workDir)/default.lba", "--force", "--quiet", "--jobs", String(jobs)])
        guard refinedStatus == 0 else { throw ValidationError("lordba-convert (default) exited with status \(refinedStatus)") }
        print("default        \(Format.fixed(refined, 2)) s (auto factorization + refit + \(SignDescent.defaultRounds) rounds of sign search; target ≤ 4 s), peak \(Format.bytes(refinedPeak))")

        // 3. Determinism across thread counts, byte for byte, for both.
        var identical = true
        for (name, extra) in [("plain", ["--plain"]), ("default", [String]())] {
            let single = "\(workDir)/\(name)-single.lba"
            let (seconds, _, status) = try measure(converter, [adapterDir, single, "--force", "--quiet", "--jobs", "1"] + extra)
            guard status == 0 else { throw ValidationError("lordba-convert --jobs 1 failed") }
            let same = try readAll(name == "plain" ? "\(workDir)/plain-0.lba" : "\(workDir)/default.lba") == readAll(single)
            identical = identical && same
            print("--jobs 1       \(name): \(Format.fixed(seconds, 2)) s; output identical to --jobs \(jobs): \(same ? "yes" : "NO")")
        }
        if !identical { throw ExitCode(1) }
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

/// Runs `path args…`, returning wall seconds, the child's peak resident memory in bytes, and its exit status.
func measure(_ path: String, _ args: [String]) throws -> (Double, Int, Int32) {
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let clock = ContinuousClock()
    let start = clock.now
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, nil, nil, argv, environ)
    guard spawned == 0 else { throw ValidationError("cannot start \(path): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid else { throw ValidationError("wait4 failed") }
    let seconds = (clock.now - start).seconds
    let exitCode = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (seconds, Int(usage.ru_maxrss) * 1024, exitCode)
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

func readAll(_ path: String) throws -> [UInt8] {
    let file = try MappedFile(path: path)
    return file.withBytes { Array($0) }
}
