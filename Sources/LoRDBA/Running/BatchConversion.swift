import Dispatch

/// Converts many adapters, in parallel, and reports each one's outcome in input order.
///
/// One bad input never stops the others. With a single input all threads work on its
/// modules; with several, each worker takes whole files.
public struct BatchConversion: Sendable {
    /// One input and where its `.lba` goes.
    public struct Job: Sendable, Equatable {
        public var input: String
        public var output: String
        /// Replace the output even without `--force`: it is an outdated `.lba` of ours
        /// (``OutputFreshness/outdated(_:)``, with `--skip-existing`).
        public var replace: Bool

        public init(input: String, output: String, replace: Bool = false) {
            self.input = input
            self.output = output
            self.replace = replace
        }
    }

    public var options: ConversionOptions
    /// Total worker threads.
    public var jobs: Int

    public init(options: ConversionOptions, jobs: Int) {
        self.options = options
        self.jobs = Swift.max(1, jobs)
    }

    /// The `.lba` name for `input` inside `directory`: a folder's name, or a file's name without
    /// `.safetensors` (files named like the training libraries' defaults take their folder's name;
    /// anything inside a Hub cache snapshot takes the repository's, `org--name.lba`).
    public static func output(for input: String, in directory: String) -> String {
        var parts = input.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var stem = parts.popLast() ?? "adapter"
        if stem.hasSuffix(".safetensors") {
            stem.removeLast(".safetensors".count)
            let generic = Set(AdapterSource.standardWeightsNames.map { String($0.dropLast(".safetensors".count)) } + ["model"])
            if generic.contains(stem), let folder = parts.last, folder != "." { stem = folder }
        }
        // Inside a Hub cache snapshot the folders are a commit hash and `snapshots`: the
        // repository names the file (`org--name.lba`).
        if let repository = HubCache.repository(containing: input) { stem = repository.replacing("/", with: "--") }
        if stem.isEmpty || stem == "." || stem == ".." { stem = "adapter" }
        let dir = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        return "\(dir)/\(stem).lba"
    }

    /// Runs every job; the results are in job order.
    /// - Parameters:
    ///   - moduleFinished: called as each module finishes: the job's index, then the modules
    ///     done and planned in its current pass (``ConversionOptions/moduleFinished``).
    ///   - progress: called as each job finishes, with its index and result.
    ///   - retained: what the results keep of each report once `progress` has seen it (called
    ///     with the job's index and the report); the whole report without it.
    public func run(_ jobs: [Job],
                    moduleFinished: (@Sendable (_ job: Int, _ done: Int, _ total: Int) -> Void)? = nil,
                    progress: (@Sendable (Int, Result<ConversionReport, ConversionError>) -> Void)? = nil,
                    retained: (@Sendable (Int, ConversionReport) -> ConversionReport)? = nil)
        -> [Result<ConversionReport, ConversionError>]
    {
        var options = self.options
        options.threads = jobs.count == 1 ? self.jobs : 1
        let base = options
        let converter: @Sendable (Int) -> Converter = { i in
            var options = base
            if jobs[i].replace { options.overwrite = true }
            if let moduleFinished { options.moduleFinished = { done, total in moduleFinished(i, done, total) } }
            return Converter(options: options)
        }
        // Every report of a batch records the same options: they share one array, so that what
        // a batch holds per input until its summary stays small (thousands of inputs).
        let reported = base.reported
        return ParallelLoop.map(count: jobs.count, threads: jobs.count == 1 ? 1 : self.jobs) { i in
            var result = Result { () throws(ConversionError) -> ConversionReport in
                try converter(i).convert(input: jobs[i].input, output: jobs[i].output)
            }
            if case .success(var report) = result,
               report.provenance.options.elementsEqual(reported, by: { $0.0 == $1.0 && $0.1 == $1.1 }) {
                report.provenance.options = reported
                result = .success(report)
            }
            // An input inside a Hub cache snapshot (`hf://org/name[@revision]` resolves to one)
            // is reported as its repository, `org/name`, not the snapshot's path.
            if case .success(var report) = result, let repository = HubCache.repository(containing: jobs[i].input) {
                report.input = repository
                result = .success(report)
            }
            progress?(i, result)
            // What the caller keeps once `progress` has seen the whole report.
            if let retained, case .success(let report) = result { result = .success(retained(i, report)) }
            return result
        }
    }
}
