import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

@main
struct LordbaConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lordba-convert",
        abstract: "Convert LoRA adapters (PEFT, MLX-LM, kohya) into compact LoRDBA .lba files.",
        subcommands: [Convert.self, Inspect.self, Export.self],
        defaultSubcommand: Convert.self)
}

/// Exit codes of `lordba-convert`, documented in README.md.
enum ExitStatus {
    /// At least one input failed to convert.
    static let failed: Int32 = 1
    /// Everything converted, but some module's product error exceeds `--max-error`.
    static let errorAboveThreshold: Int32 = 3
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert one adapter (IN OUT.lba) or many (IN... --out-dir DIR).")

    @Argument(help: "Adapter files or folders, then the output file when converting one adapter without --out-dir.")
    var paths: [String]

    @Option(name: .long, help: "Folder for the .lba files of a batch (one per input).")
    var outDir: String?

    @Option(name: .long, help: "adapter_config.json to use instead of the one beside the weights.")
    var config: String?

    @Option(name: .long, help: "Adapter to convert when the keys name several (lora_A.<name>.weight).")
    var adapterName: String?

    @Flag(name: .long, help: "Replace existing output files.")
    var force = false

    @Flag(name: .long, help: "Leave out tensors that are not LoRA pairs (DoRA magnitudes, modules_to_save, biases).")
    var dropExtra = false

    @Option(name: .long, help: "Worker threads (output is identical for any value).")
    var jobs: Int = ProcessInfoCores.count

    @Option(name: .long, help: "Storage dtype of the outer scales: e4m3 (OCP fp8, one byte; default), f16, bf16 or f32.")
    var scaleDtype: String = "e4m3"

    @Option(name: .long, help: "Factor pair to binarize: as-is, balanced, rotated or auto (best per module; default).")
    var factorization: String?

    @Option(name: .long, help: "Sign channels per module: N (also below the LoRA rank), or a multiple of the LoRA rank such as 2x (default 1x).")
    var binaryRank: String?

    @Option(name: .long, help: "Scale vectors: full (a, m, b; default) or compact (m, b: no input-channel scale).")
    var scales: String?

    @Option(name: .long, help: "Per module, the smallest binary rank (in steps of r, up to --binary-rank or 4r) with product error at most this.")
    var targetError: Double?

    @Option(name: .long, help: "Make each file at least X times smaller than the adapter in fp16, choosing each module's binary rank (1/4 r to 3r) for the least error.")
    var sizeRatio: Double?

    @Option(name: .long, help: "Make each file at most this many bytes, choosing each module's binary rank for the least error.")
    var budget: Int?

    @Option(name: .long, help: "What --size-ratio / --budget minimise: relative (sum of squared relative errors; default) or absolute (sum of squared errors).")
    var budgetObjective: String?

    @Option(name: .long, help: "Closed-form scale refit sweeps (alternating least squares; default \(PipelineOptions().refitSweeps)); 0 turns them off.")
    var refitSweeps: Int?

    @Option(name: .long, help: "Rounds of exact sign search (binary coordinate descent; default \(SignDescent.defaultRounds)); 0 turns it off.")
    var bcdRounds: Int?

    @Option(name: .long, help: "Straight-through-estimator steps after the sign search (opt-in, kept only where they lower the error; default 0).")
    var refineSteps: Int?

    @Option(name: .long, help: "Seed for the random orthogonal mixes of --factorization rotated.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Plain LoRDBA: as-is factors, signs and rank-1 magnitudes, no refinement.")
    var plain = false

    @Option(name: .long, help: "Per-module input statistics (<module>.input_sq_mean, shape [in]) that weight the refinement by input channel.")
    var calibration: String?

    @Flag(name: .long, help: "Print the full per-module table after each conversion.")
    var report = false

    @Option(name: .long, help: "Write the run's report as JSON to this path.")
    var reportJson: String?

    @Option(name: .long, help: "Write a self-contained HTML report (charts, no network) to this path.")
    var reportHtml: String?

    @Option(name: .long, help: "Exit with status 3 when any module's product error exceeds this (files are still written).")
    var maxError: Double?

    @Flag(name: .long, help: "Also measure what the same bytes buy otherwise (SVD truncation, BitDelta, XNOR, 2-bit) per module.")
    var compare = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        if paths.isEmpty { throw ValidationError("Give an adapter to convert.") }
        if outDir == nil && paths.count != 2 {
            throw ValidationError("Give IN OUT.lba, or several inputs with --out-dir DIR.")
        }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
        if ScaleDType(rawValue: scaleDtype) == nil {
            throw ValidationError("--scale-dtype must be one of \(ScaleDType.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        if let maxError, !(maxError >= 0) { throw ValidationError("--max-error must be a non-negative number.") }
        if let factorization, Factorization(rawValue: factorization) == nil {
            throw ValidationError("--factorization must be one of \(Factorization.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        if let binaryRank, BinaryRankChoice(binaryRank) == nil { throw ValidationError("--binary-rank must be a positive number or a multiple such as 2x.") }
        if let scales, scales != "full" && scales != "compact" { throw ValidationError("--scales must be full or compact.") }
        if let targetError, !(targetError >= 0) { throw ValidationError("--target-error must be a non-negative number.") }
        if [refitSweeps, bcdRounds, refineSteps].contains(where: { ($0 ?? 0) < 0 }) {
            throw ValidationError("--refit-sweeps, --bcd-rounds and --refine-steps must be at least 0.")
        }
        if let sizeRatio, !(sizeRatio >= 1 && sizeRatio.isFinite) { throw ValidationError("--size-ratio must be a number of at least 1.") }
        if let budget, budget < 1 { throw ValidationError("--budget must be a positive number of bytes.") }
        if sizeRatio != nil && budget != nil { throw ValidationError("Give --size-ratio or --budget, not both.") }
        if let budgetObjective, BudgetObjective(rawValue: budgetObjective) == nil {
            throw ValidationError("--budget-objective must be relative or absolute.")
        }
        if budgetObjective != nil && sizeRatio == nil && budget == nil {
            throw ValidationError("--budget-objective needs --size-ratio or --budget.")
        }
        if sizeRatio != nil || budget != nil {
            if binaryRank != nil { throw ValidationError("--size-ratio / --budget choose the binary rank per module; leave out --binary-rank.") }
            if targetError != nil { throw ValidationError("--size-ratio / --budget and --target-error both choose the binary rank; give one.") }
        }
        if plain {
            let given: [(String, Bool)] = [
                ("--size-ratio", sizeRatio != nil), ("--budget", budget != nil), ("--budget-objective", budgetObjective != nil),
                ("--factorization", factorization != nil), ("--binary-rank", binaryRank != nil), ("--scales", scales != nil),
                ("--target-error", targetError != nil), ("--refit-sweeps", refitSweeps != nil), ("--bcd-rounds", bcdRounds != nil),
                ("--refine-steps", refineSteps != nil), ("--calibration", calibration != nil),
            ]
            if let flag = given.first(where: { $0.1 })?.0 {
                throw ValidationError("--plain is plain binarization; it cannot be combined with \(flag).")
            }
        }
    }

    func run() throws {
        let jobsList: [BatchConversion.Job]
        if let outDir {
            jobsList = paths.map { .init(input: $0, output: BatchConversion.output(for: $0, in: outDir)) }
            let outputs = jobsList.map(\.output)
            if let clash = outputs.first(where: { o in outputs.filter { $0 == o }.count > 1 }) {
                throw ValidationError("Two inputs would both be written to \(clash); convert them separately.")
            }
            try ensureDirectory(outDir)
        } else {
            jobsList = [.init(input: paths[0], output: paths[1])]
        }
        var options = ConversionOptions()
        options.configPath = config
        options.dropExtra = dropExtra
        options.adapterName = adapterName
        options.overwrite = force
        options.calibrationPath = calibration
        options.compare = compare
        var pipeline = plain ? PipelineOptions.plain : PipelineOptions()
        if let factorization { pipeline.factorization = Factorization(rawValue: factorization)! }
        if let refitSweeps { pipeline.refitSweeps = refitSweeps }
        if let bcdRounds { pipeline.descentRounds = bcdRounds }
        if let refineSteps { pipeline.refineSteps = refineSteps }
        if let binaryRank { pipeline.binaryRank = BinaryRankChoice(binaryRank)! }
        pipeline.targetError = targetError
        pipeline.compactScales = scales == "compact"
        pipeline.scaleDType = ScaleDType(rawValue: scaleDtype)!
        pipeline.seed = seed
        options.pipeline = pipeline
        if let sizeRatio { options.budget = .sizeRatio(sizeRatio) }
        if let budget { options.budget = .bytes(budget) }
        if let budgetObjective { options.budgetObjective = BudgetObjective(rawValue: budgetObjective)! }
        let terminal = TerminalReport(colour: isatty(STDOUT_FILENO) != 0)
        let results = BatchConversion(options: options, jobs: jobs).run(jobsList)

        var entries: [ReportJSON.Entry] = []
        var failures = 0
        var exceeded: [String] = []
        for (job, result) in zip(jobsList, results) {
            switch result {
            case .success(let converted):
                entries.append(.converted(converted))
                if !quiet {
                    print(terminal.summary(converted))
                    if report { print(terminal.table(converted)) }
                }
                if let maxError {
                    exceeded += converted.modules.filter { $0.errors.productError > maxError }
                        .map { "\(job.input): \($0.name) (\(Format.fixed($0.errors.productError, 3)))" }
                }
            case .failure(let error):
                failures += 1
                entries.append(.failed(input: job.input, output: job.output, reason: error.description))
                printError("error: \(error.description)")
            }
        }
        if let reportJson {
            let text = ReportJSON.document(entries, maxError: maxError).serialized(indent: 2) + "\n"
            do {
                try AtomicFile.write(Array(text.utf8), to: reportJson, overwrite: true)
            } catch {
                printError("error: \(error)")
                throw ExitCode(ExitStatus.failed)
            }
        }
        if let reportHtml {
            let converted = entries.compactMap { entry -> ConversionReport? in
                if case .converted(let r) = entry { return r } else { return nil }
            }
            let failed = entries.compactMap { entry -> (input: String, reason: String)? in
                if case .failed(let input, _, let reason) = entry { return (input, reason) } else { return nil }
            }
            do {
                try AtomicFile.write(Array(HTMLReport.page(converted, failures: failed).utf8), to: reportHtml, overwrite: true)
            } catch {
                printError("error: \(error)")
                throw ExitCode(ExitStatus.failed)
            }
        }
        if failures > 0 {
            if jobsList.count > 1 { printError("\(failures) of \(jobsList.count) inputs failed") }
            throw ExitCode(ExitStatus.failed)
        }
        if !exceeded.isEmpty, let maxError {
            printError("product error above --max-error \(maxError): " + exceeded.joined(separator: ", "))
            throw ExitCode(ExitStatus.errorAboveThreshold)
        }
    }

    private func ensureDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) != S_IFDIR { throw ValidationError("--out-dir \(path) is not a folder.") }
            return
        }
        if mkdir(path, 0o755) != 0 {
            throw ValidationError("--out-dir \(path): cannot create: \(String(cString: strerror(errno)))")
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a .lba or safetensors adapter holds, and check its integrity.")

    @Argument(help: "A .lba file, a safetensors file or an adapter folder.")
    var path: String

    func run() throws {
        do {
            print(try Inspector.describe(path))
        } catch {
            printError("error: \(error)")
            throw ExitCode(ExitStatus.failed)
        }
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
