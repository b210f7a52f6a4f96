import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// `lordba-convert [convert] IN OUT.lba` or `IN... --out-dir DIR`: parses the flags into one
/// ``ConversionRun/Request``, runs it and prints each input's line as it finishes.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert one adapter (IN OUT.lba) or many (IN... --out-dir DIR).",
        discussion: ExitCodes.convert)

    @Argument(help: "Adapter files or folders (or hf://org/name[@revision] from the local Hub cache), then the output file when converting one adapter without --out-dir.",
              completion: .file())
    var paths: [String]

    @OptionGroup(title: "Input") var input: InputOptions
    @OptionGroup(title: "Fidelity and size") var fidelity: FidelityOptions
    @OptionGroup(title: "Batch") var batch: BatchOptions
    @OptionGroup(title: "Reports") var reports: ReportOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    @Flag(name: .long, help: "Print the full per-module table after each conversion.")
    var report = false

    @Flag(name: .long, help: "Also measure what the same bytes buy otherwise (SVD truncation, BitDelta, XNOR, 2-bit) per module.")
    var compare = false

    func validate() throws {
        try UnknownFlag.check(Self.self)
        if paths.isEmpty { throw ValidationError("Give an adapter to convert.") }
        if batch.outDir == nil && paths.count != 2 {
            throw ValidationError("Give IN OUT.lba, or several inputs with --out-dir DIR.")
        }
        if batch.outDir == nil, paths[1] != ConversionRun.standardOutput, !paths[1].hasSuffix(".lba"), !output.force {
            throw ValidationError("\(paths[1]): the output should end in .lba (for several inputs give --out-dir DIR; --force writes it under this name).")
        }
    }

    /// The run the flags describe.
    func request() throws -> ConversionRun.Request {
        var options = ConversionOptions()
        options.configPath = input.config
        options.dropExtra = input.dropExtra
        options.overwrite = output.force
        options.calibrationPath = input.calibration
        options.compare = compare
        options.adapterName = input.adapterName
        do { try fidelity.choices(calibration: input.calibration != nil).apply(to: &options) } catch {
            throw ValidationError(error.description)
        }
        let inputs = try (batch.outDir == nil ? [paths[0]] : paths).map { (path: String) throws -> String in
            do { return try HubCache.resolve(path) } catch {
                printError("error: \(error)")
                throw ExitCode(ConversionRun.ExitStatus.failed.rawValue)
            }
        }
        var request = ConversionRun.Request(
            inputs: inputs, output: batch.outDir == nil ? paths[1] : nil, outDirectory: batch.outDir,
            options: options, jobs: batch.jobs, maxError: reports.maxError, reportJSONPath: reports.reportJson,
            reportHTMLPath: reports.reportHtml)
        request.skipExisting = batch.skipExisting
        request.shard = batch.shard
        request.root = batch.root
        request.summaryMarkdownPath = reports.summaryMd
        request.stepSummaryPath = Environment.stepSummary
        request.annotations = Environment.githubActions
        return request
    }

    func run() throws {
        let run: ConversionRun
        do {
            run = try ConversionRun(try request())
        } catch let error as ConversionRun.PlanError {
            if case .usage(let message) = error { throw ValidationError(message) }
            printError("error: \(error.description)")
            throw ExitCode(ConversionRun.ExitStatus.failed.rawValue)
        }
        let console = Console(reportOnStandardOutput: reports.usesStandardOutput)
        for path in run.staleTemporaries {
            printError(output.force ? "removed \(path), left by an interrupted run" : "warning: \(path) was left by an interrupted run (--force removes it)")
        }
        let terminal = isatty(STDERR_FILENO) != 0
        let meter = batch.progress.isEnabled(standardErrorIsTerminal: terminal, quiet: output.quiet)
            ? ProgressMeter(inputBytes: run.inputBytes, terminal: terminal, draw: Console.standardError) : nil
        let lines = OutcomeLines(console: console, quiet: output.quiet, table: report)
        let outcomes = run.convert(progress: meter) { outcome in
            if let meter { meter.printing { lines.print(outcome) } } else { lines.print(outcome) }
        }
        let verdict = run.finish(outcomes)
        if !output.quiet && (run.jobs.count > 1 || verdict.counts.skipped > 0) { console.human("inputs: " + verdict.counts.line) }
        verdict.standardOutput.forEach(console.document)
        verdict.messages.forEach(printError)
        if verdict.status != .success { throw ExitCode(verdict.status.rawValue) }
    }
}

/// The line (and with `--report`, the table) each input gets as it finishes.
struct OutcomeLines: Sendable {
    var console: Console
    var quiet: Bool
    var table: Bool

    func print(_ outcome: RunOutcome) {
        let terminal = TerminalReport(colour: console.colour)
        switch outcome {
        case .converted(let converted):
            guard !quiet else { return }
            console.human(terminal.summary(converted) + (table ? "\n" + terminal.table(converted) : ""))
        case .skipped(let input, let output, let reason):
            if !quiet { console.human("skipped \(input) → \(output): \(reason)") }
        case .failed(_, _, let reason):
            printError("error: \(reason)")
        }
    }
}
