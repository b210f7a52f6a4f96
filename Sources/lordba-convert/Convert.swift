import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// `lordba-convert [convert] IN OUT.lba` or `IN... --out-dir DIR`: parses the flags, hands them
/// to ``ConversionRun`` and prints what it reports.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert one adapter (IN OUT.lba) or many (IN... --out-dir DIR).",
        discussion: ExitCodes.convert)

    @Argument(help: "Adapter files or folders, then the output file when converting one adapter without --out-dir.",
              completion: .file())
    var paths: [String]

    @Option(name: .long, help: "Folder for the .lba files of a batch (one per input).", completion: .directory)
    var outDir: String?

    @Option(name: .long, help: "adapter_config.json to use instead of the one beside the weights.", completion: .file(extensions: ["json"]))
    var config: String?

    @Option(name: .long, help: "Adapter to convert when the keys name several (lora_A.<name>.weight).")
    var adapterName: String?

    @Flag(name: .long, help: "Replace existing output files and reports (regular files only) and remove stale temporary files.")
    var force = false

    @Flag(name: .long, help: "Leave out tensors that are not LoRA pairs (DoRA magnitudes, modules_to_save, biases).")
    var dropExtra = false

    @Option(name: .long, help: "Worker threads (output is identical for any value).")
    var jobs: Int = ProcessInfoCores.count

    @Option(name: .long, help: "Storage dtype of the outer scales a and b (e4m3: OCP fp8, one byte; m is always f32).")
    var scaleDtype: ScaleDType = PipelineOptions().scaleDType

    @Option(name: .long, help: "Factor pair to binarize (default auto: the best per module).")
    var factorization: Factorization?

    @Option(name: .long, help: "Sign channels per module: N (also below the LoRA rank), or a multiple of the LoRA rank such as 2x (default 1x).",
            completion: .list(BinaryRankChoice.suggestions))
    var binaryRank: BinaryRankChoice?

    @Option(name: .long, help: "Scale vectors: full (a, m, b; default) or compact (m, b: no input-channel scale).")
    var scales: ScalesChoice?

    @Option(name: .long, help: "Per module, the smallest binary rank (in steps of r, up to --binary-rank or 4r) with product error at most this.")
    var targetError: Double?

    @Option(name: .long, help: "Make each file at least X times smaller than the adapter in fp16, choosing each module's binary rank (r/4 to 3r) and scale layout for the least error.")
    var sizeRatio: Double?

    @Option(name: .long, help: "Make each file at most this many bytes, choosing each module's binary rank and scale layout for the least error.")
    var budget: Int?

    @Option(name: .long, help: "What --size-ratio / --budget minimise: relative (the sum of squared relative errors; default) or absolute (the sum of squared errors).")
    var budgetObjective: BudgetObjective?

    @Option(name: .long, help: "Closed-form scale refit sweeps (alternating least squares; default \(PipelineOptions().refitSweeps)); 0 turns them off.")
    var refitSweeps: Int?

    @Option(name: .long, help: "Rounds of exact sign search (binary coordinate descent; default \(SignDescent.defaultRounds)); 0 turns it off.")
    var bcdRounds: Int?

    @Option(name: .long, help: "Straight-through-estimator steps after the sign search (opt-in, kept only where they lower the error; default 0).")
    var refineSteps: Int?

    @Option(name: .long, help: "Seed for the random orthogonal mixes of --factorization rotated.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Plain LoRDBA: as-is factors, signs and rank-1 magnitudes, no refinement (no fidelity option may be given with it).")
    var plain = false

    @Option(name: .long, help: "Per-module input statistics (<module>.input_sq_mean, shape [in]) that weight the refinement by input channel.",
            completion: .file(extensions: ["safetensors"]))
    var calibration: String?

    @Flag(name: .long, help: "Print the full per-module table after each conversion.")
    var report = false

    @Option(name: .long, help: "Write the run's report as JSON to this path (- for standard output).", completion: .file(extensions: ["json"]))
    var reportJson: String?

    @Option(name: .long, help: "Write a self-contained HTML report (charts, no network) to this path (- for standard output).",
            completion: .file(extensions: ["html"]))
    var reportHtml: String?

    @Option(name: .long, help: "Exit with status 3 when any module's product error exceeds this (files are still written).")
    var maxError: Double?

    @Flag(name: .long, help: "Also measure what the same bytes buy otherwise (SVD truncation, BitDelta, XNOR, 2-bit) per module.")
    var compare = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    @Option(name: .long, help: "Live progress line on standard error (inputs, modules, MB/s, ETA): auto draws it when standard error is a terminal and -q is not given.")
    var progress: ProgressMode = .auto

    @Flag(name: .long, help: "Skip outputs that are valid .lba files recorded with this input's SHA-256 and these options; replace outdated .lba files (no --force needed); convert the rest.")
    var skipExisting = false

    @Option(name: .long, help: ArgumentHelp("Convert only shard I of N (1-based) of the inputs, split by input bytes and a stable hash of each path relative to --root (needs --out-dir).", valueName: "I/N"))
    var shard: Shard?

    @Option(name: .long, help: ArgumentHelp("Folder the --shard partition takes input paths relative to (default: the paths as given).", valueName: "dir"), completion: .directory)
    var root: String?

    @Option(name: .long, help: ArgumentHelp("Write a Markdown summary (per input, worst modules, the gate) to this path; also appended to $GITHUB_STEP_SUMMARY when that is set.", valueName: "path"), completion: .file())
    var summaryMd: String?

    func validate() throws {
        if paths.isEmpty { throw ValidationError("Give an adapter to convert.") }
        if outDir == nil && paths.count != 2 {
            throw ValidationError("Give IN OUT.lba, or several inputs with --out-dir DIR.")
        }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
        if let maxError, !(maxError >= 0) { throw ValidationError("--max-error must be a non-negative number.") }
        if let targetError, !(targetError >= 0) { throw ValidationError("--target-error must be a non-negative number.") }
        if shard != nil && outDir == nil { throw ValidationError("--shard needs --out-dir DIR.") }
        if root != nil && shard == nil { throw ValidationError("--root is only used with --shard I/N.") }
    }

    func run() throws {
        var options = ConversionOptions()
        options.configPath = config
        options.dropExtra = dropExtra
        options.overwrite = force
        options.calibrationPath = calibration
        options.compare = compare
        options.adapterName = adapterName
        var choices = ConversionRun.FidelityChoices()
        choices.plain = plain
        choices.factorization = factorization
        choices.binaryRank = binaryRank
        choices.compactScales = scales.map { $0 == .compact }
        choices.targetError = targetError
        choices.sizeRatio = sizeRatio
        choices.budget = budget
        choices.budgetObjective = budgetObjective
        choices.refitSweeps = refitSweeps
        choices.descentRounds = bcdRounds
        choices.refineSteps = refineSteps
        choices.calibration = calibration != nil
        choices.scaleDType = scaleDtype
        choices.seed = seed
        do {
            try choices.apply(to: &options)
        } catch {
            throw ValidationError(error.description)
        }
        let request = ConversionRun.Request(
            inputs: outDir == nil ? [paths[0]] : paths, output: outDir == nil ? paths[1] : nil, outDirectory: outDir,
            options: options, jobs: jobs, maxError: maxError, reportJSONPath: reportJson, reportHTMLPath: reportHtml)
        var batch = request
        batch.skipExisting = skipExisting
        batch.shard = shard
        batch.root = root
        batch.summaryMarkdownPath = summaryMd
        func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        batch.stepSummaryPath = environment("GITHUB_STEP_SUMMARY").flatMap { $0.isEmpty ? nil : $0 }
        batch.annotations = environment("GITHUB_ACTIONS") == "true"
        let run: ConversionRun
        do {
            run = try ConversionRun(batch)
        } catch {
            switch error {
            case .usage(let message): throw ValidationError(message)
            case .io(let message):
                printError("error: \(message)")
                throw ExitCode(ConversionRun.ExitStatus.failed.rawValue)
            }
        }

        for path in run.staleTemporaries {
            printError(force ? "removed \(path), left by an interrupted run" : "warning: \(path) was left by an interrupted run (--force removes it)")
        }
        var meter: ProgressMeter?
        if progress.isEnabled(standardErrorIsTerminal: isatty(STDERR_FILENO) != 0, quiet: quiet) {
            meter = ProgressMeter(inputBytes: run.inputBytes) { text in
                _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            }
        }
        let entries = run.convert(progress: meter)
        let terminal = TerminalReport(colour: isatty(STDOUT_FILENO) != 0)
        for entry in entries {
            switch entry {
            case .converted(let converted):
                if !quiet {
                    print(terminal.summary(converted))
                    if report { print(terminal.table(converted)) }
                }
            case .skipped(let input, let output, let reason):
                if !quiet { print("skipped \(input) → \(output): \(reason)") }
            case .failed(_, _, let reason):
                printError("error: \(reason)")
            }
        }
        let verdict = run.finish(entries)
        if !quiet && (run.jobs.count > 1 || verdict.counts.skipped > 0) { print("inputs: " + verdict.counts.line) }
        verdict.standardOutput.forEach { print($0, terminator: "") }
        verdict.messages.forEach(printError)
        if verdict.status != .success { throw ExitCode(verdict.status.rawValue) }
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
