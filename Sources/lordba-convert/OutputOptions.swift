import ArgumentParser
import LoRDBA

/// `--force` and `-q`, shared by every subcommand that writes.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Replace existing outputs and reports (regular files only) and remove stale temporary files.")
    var force = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false
}

/// The report files of `convert` and `merge-reports`: at most one of them may be `-` (standard
/// output), and then every human line goes to standard error.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Write the run's report as JSON to this path (- for standard output).",
            completion: .file(extensions: ["json"]))
    var reportJson: String?

    @Option(name: .long, help: "Write a self-contained HTML report (charts, no network) to this path (- for standard output).",
            completion: .file(extensions: ["html"]))
    var reportHtml: String?

    @Option(name: .long, help: ArgumentHelp("Write a Markdown summary (per input, worst modules, the gate) to this path; also appended to $GITHUB_STEP_SUMMARY when that is set.", valueName: "path"),
            completion: .file())
    var summaryMd: String?

    @Option(name: .long, help: ArgumentHelp("Exit with status 3 when any module's product error exceeds this (files are still written; merge-reports: instead of the gate the shards recorded).", valueName: "x"))
    var maxError: Double?

    func validate() throws {
        if let maxError, !(maxError >= 0) { throw ValidationError("--max-error must be a non-negative number.") }
        do {
            try ConversionRun.checkStandardOutput(output: nil, reports: flags)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Each report flag with its path.
    var flags: [(flag: String, path: String?)] {
        [("--report-json", reportJson), ("--report-html", reportHtml), ("--summary-md", summaryMd)]
    }

    /// Whether a report goes to standard output (so human lines go to standard error).
    var usesStandardOutput: Bool { flags.contains { $0.path == ConversionRun.standardOutput } }
}

/// The batch options of `convert`: the output folder, workers, freshness, shards and progress.
struct BatchOptions: ParsableArguments {
    @Option(name: .long, help: "Folder for the .lba files of a batch (one per input).", completion: .directory)
    var outDir: String?

    @Option(name: .long, help: "Worker threads (output is identical for any value).")
    var jobs: Int = ProcessInfoCores.count

    @Flag(name: .long, help: "Skip outputs that are valid .lba files recorded with this input's SHA-256 and these options; replace outdated .lba files (no --force needed); convert the rest.")
    var skipExisting = false

    @Option(name: .long, help: ArgumentHelp("Convert only shard I of N (1-based) of the inputs, split by input bytes and a stable hash of each path relative to --root (needs --out-dir).", valueName: "I/N"))
    var shard: Shard?

    @Option(name: .long, help: ArgumentHelp("Folder the --shard partition takes input paths relative to (default: the paths as given).", valueName: "dir"), completion: .directory)
    var root: String?

    @Option(name: .long, help: "Progress on standard error (inputs, modules, MB/s, ETA): auto redraws a line when standard error is a terminal and -q is not given; always also writes a plain line every 10 s to a file or CI log.")
    var progress: ProgressMode = .auto

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
        if shard != nil && outDir == nil { throw ValidationError("--shard needs --out-dir DIR.") }
        if root != nil && shard == nil { throw ValidationError("--root is only used with --shard I/N.") }
    }
}
