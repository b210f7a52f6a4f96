#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of `lordba-convert convert`: the command's whole policy, so the executable only parses
/// flags, calls this and prints.
///
/// A run plans its jobs (one `IN OUT.lba`, or one `.lba` per input in `--out-dir`, with
/// `--shard I/N` only this shard's share) and refuses two inputs that would share an output,
/// converts them (``convert(progress:)``, skipping up-to-date outputs with `--skip-existing`),
/// then applies the single `--max-error` gate, writes the JSON and HTML reports and the Markdown
/// summary and decides the exit status (``finish(_:)``).
public struct ConversionRun: Sendable {
    /// What the command line asked for.
    public struct Request: Sendable {
        /// Adapter files or folders.
        public var inputs: [String]
        /// The output of a single conversion (`IN OUT.lba`); nil with `outDirectory`.
        public var output: String?
        /// The folder for a batch's `.lba` files (`--out-dir`).
        public var outDirectory: String?
        /// Conversion options, the pipeline included.
        public var options: ConversionOptions
        /// Total worker threads (`--jobs`).
        public var jobs: Int
        /// The CI gate (`--max-error`).
        public var maxError: Double?
        /// Where to write the JSON report (`--report-json`).
        public var reportJSONPath: String?
        /// Where to write the HTML report (`--report-html`).
        public var reportHTMLPath: String?
        /// Leave up-to-date outputs as they are and replace outdated `.lba` files of ours
        /// (`--skip-existing`, ``OutputFreshness``).
        public var skipExisting = false
        /// Convert only this shard's share of the inputs (`--shard I/N`, ``ShardPartition``).
        public var shard: Shard?
        /// The folder the shard partition takes input paths relative to (`--root`).
        public var root: String?
        /// Where to write the Markdown summary (`--summary-md`; replaced only with `--force`).
        public var summaryMarkdownPath: String?
        /// A file the Markdown summary is appended to (GitHub's `GITHUB_STEP_SUMMARY`).
        public var stepSummaryPath: String?
        /// Also give GitHub Actions annotations for failures and the gate (`GITHUB_ACTIONS=true`).
        public var annotations = false

        public init(inputs: [String], output: String?, outDirectory: String?, options: ConversionOptions, jobs: Int,
                    maxError: Double? = nil, reportJSONPath: String? = nil, reportHTMLPath: String? = nil)
        {
            self.inputs = inputs
            self.output = output
            self.outDirectory = outDirectory
            self.options = options
            self.jobs = jobs
            self.maxError = maxError
            self.reportJSONPath = reportJSONPath
            self.reportHTMLPath = reportHTMLPath
        }
    }

    /// Exit statuses of `lordba-convert`, documented in docs/cli.md (a contract).
    public enum ExitStatus: Int32, Sendable {
        /// Everything converted and passed the gate.
        case success = 0
        /// At least one input failed to convert, or a report could not be written.
        case failed = 1
        /// Everything converted, but some module's product error exceeds `--max-error`.
        case errorAboveThreshold = 3
    }

    /// What a run ended with: the status and the lines for standard error, in order.
    public struct Verdict: Sendable {
        public var status: ExitStatus
        public var messages: [String]
        /// Reports asked for on standard output (`-`), for the caller to print.
        public var standardOutput: [String] = []
        /// The modules above `--max-error`.
        public var exceeded: [ReportJSON.Exceeded]
        /// Inputs converted, skipped and failed.
        public var counts = RunCounts()
    }

    /// One input's outcome (``RunOutcome``).
    public typealias Outcome = RunOutcome

    /// Why a run could not start.
    public enum PlanError: Error, CustomStringConvertible, Equatable {
        /// The arguments do not describe a run (exit 64).
        case usage(String)
        /// The output folder cannot be used (exit 1).
        case io(String)

        public var description: String {
            switch self {
            case .usage(let m), .io(let m): m
            }
        }
    }

    public let request: Request
    /// The planned conversions, in input order (with `--shard`, this shard's only).
    public let jobs: [BatchConversion.Job]
    /// With `--shard`: the shard, the batch's size and this shard's positions in it.
    public let shardRecord: ShardRecord?
    /// Temporary files of ours beside the outputs, left by an earlier run that was killed
    /// (removed when `--force` was given, else only reported).
    public let staleTemporaries: [String]

    /// What the run keeps of each report once the terminal has seen it.
    let retention: BatchRetention

    /// The path that means standard output for the report flags.
    public static let standardOutput = "-"

    /// Plans the run: one job per input; with `--out-dir`, checks that no two inputs share an
    /// output and creates the folder. Refuses any output (`.lba` or report) that is an input, a
    /// config, the calibration file or another output, and, without `--force`, an existing
    /// report; reports (and removes, with `--force`) stale temporary files.
    public init(_ request: Request) throws(PlanError) {
        self.request = request
        try Self.checkStandardOutput(output: request.output, reports: [
            ("--report-json", request.reportJSONPath), ("--report-html", request.reportHTMLPath),
            ("--summary-md", request.summaryMarkdownPath),
        ])
        if let outDirectory = request.outDirectory {
            let planned = request.inputs.map { BatchConversion.Job(input: $0, output: BatchConversion.output(for: $0, in: outDirectory)) }
            var seen = Set<String>()
            for job in planned where !seen.insert(job.output).inserted {
                throw .usage("Two inputs would both be written to \(job.output); convert them separately.")
            }
            if let shard = request.shard {
                let positions = try Self.positions(of: shard, inputs: request.inputs, root: request.root)
                shardRecord = ShardRecord(shard: shard, inputsTotal: planned.count, positions: positions)
                jobs = positions.map { planned[$0] }
            } else {
                shardRecord = nil
                jobs = planned
            }
            try Self.ensureDirectory(outDirectory)
        } else {
            guard request.inputs.count == 1, let output = request.output, request.shard == nil else {
                throw .usage(request.shard == nil ? "Give IN OUT.lba, or several inputs with --out-dir DIR."
                                                  : "--shard needs --out-dir DIR.")
            }
            jobs = [.init(input: request.inputs[0], output: output)]
            shardRecord = nil
        }
        try Self.checkInputs(request.inputs)
        try Self.checkOutputs(request, jobs: jobs)
        let start = Int(time(nil))
        var stale: [String] = []
        for output in jobs.map(\.output) + [request.reportJSONPath, request.reportHTMLPath, request.summaryMarkdownPath].compactMap({ $0 })
        where output != Self.standardOutput {
            stale += TemporaryFiles.stale(for: output, before: start)
        }
        if request.options.overwrite { for path in stale { _ = unlink(path) } }
        staleTemporaries = stale
        retention = BatchRetention(request, jobs: jobs.count)
    }

    /// Standard output carries one document: at most one report may be `-`, and the `.lba`
    /// output may not be (a binary file on a terminal or a pipe is never what was meant).
    public static func checkStandardOutput(output: String?, reports: [(flag: String, path: String?)]) throws(PlanError) {
        if output == standardOutput {
            throw .usage("The .lba output cannot be standard output (-); give a file name such as out.lba.")
        }
        let onStandardOutput = reports.filter { $0.path == standardOutput }.map(\.flag)
        if onStandardOutput.count > 1 {
            throw .usage("\(onStandardOutput.joined(separator: " and ")) both write to standard output (-); give one of them a file.")
        }
    }

    /// Whether a report goes to standard output, so every human line must go to standard error.
    public var writesReportToStandardOutput: Bool {
        [request.reportJSONPath, request.reportHTMLPath, request.summaryMarkdownPath].contains(Self.standardOutput)
    }

    /// Refuses a `.lba` given as an input (it is converted already) with what to run instead.
    static func checkInputs(_ inputs: [String]) throws(PlanError) {
        for input in inputs where FileSystem.prefix(of: input, count: LBAFormat.magic.count) == LBAFormat.magic {
            throw .io("\(input): already a converted .lba file; see what it holds with `lordba-convert inspect \(input)`, or turn it back into a LoRA adapter with `lordba-convert export \(input) --to peft OUT`")
        }
    }

    /// Refuses an output whose folder does not exist, naming the folder.
    static func checkFolder(of output: String) throws(PlanError) {
        let folder = FileSystem.directory(of: output)
        guard FileSystem.kind(of: folder) != .directory else { return }
        throw .io("\(output): the folder \(folder) does not exist; create it first (mkdir -p \(folder))")
    }

    /// Every output against every input and against each other (by device and inode when the
    /// file exists, else by path), and existing reports against `--force`.
    private static func checkOutputs(_ request: Request, jobs: [BatchConversion.Job]) throws(PlanError) {
        var inputs: [(FileIdentity, String)] = []
        for path in request.inputs + [request.options.configPath, request.options.calibrationPath].compactMap({ $0 }) {
            inputs += FileIdentity.ofInput(path, siblings: [AdapterSource.standardConfigName])
        }
        let reports = [request.reportJSONPath, request.reportHTMLPath, request.summaryMarkdownPath].compactMap { $0 }
            .filter { $0 != standardOutput }
        var outputs: [String: String] = [:]   // identity key or path → the output that claimed it
        for output in jobs.map(\.output) + reports {
            let identity = FileIdentity(path: output)
            if let identity, let (_, input) = inputs.first(where: { $0.0 == identity }) {
                throw .io("\(output): refusing to write over the input \(input)")
            }
            let key = identity.map { "\($0.device):\($0.inode)" } ?? "path:" + output
            if let other = outputs.updateValue(output, forKey: key) {
                throw .usage("\(output) and \(other) are the same file; give each output its own path.")
            }
        }
        for report in reports where !request.options.overwrite && FileSystem.exists(report) {
            throw .io("\(report): report exists (use --force to replace it)")
        }
        for output in jobs.map(\.output) + reports {
            try checkFolder(of: output)
            if let problem = AtomicFile.replaceProblem(output) { throw .io(problem.description) }
        }
    }

    /// Creates `path` as a folder unless it is one already.
    private static func ensureDirectory(_ path: String) throws(PlanError) {
        do throws(FileSystem.FolderProblem) { try FileSystem.ensureFolder(path) } catch {
            let message = error.message(option: "--out-dir", path: path)
            throw error == .notAFolder ? .usage(message) : .io(message)
        }
    }
}
