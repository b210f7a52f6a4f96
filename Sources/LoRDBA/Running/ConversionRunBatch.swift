#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The batch side of a run: skipping up-to-date outputs, the shard's share of the inputs,
/// progress, and appending to a job summary file.
extension ConversionRun {
    /// Converts every job; one outcome per job, in job order. With `--skip-existing`, up-to-date
    /// outputs are skipped and outdated `.lba` files of ours replaced; `progress` (if any) is told
    /// of every module and input as they finish, and `finished` (if any) gets each input's outcome
    /// as soon as it is known (from a worker thread; skipped inputs first).
    public func convert(progress: ProgressMeter? = nil, finished: (@Sendable (Outcome) -> Void)? = nil) -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: jobs.count)
        var pending: [(index: Int, job: BatchConversion.Job)] = []
        for (i, job) in jobs.enumerated() {
            guard request.skipExisting else { pending.append((i, job)); continue }
            switch OutputFreshness.check(output: job.output, input: job.input, options: request.options) {
            case .upToDate:
                outcomes[i] = .skipped(input: job.input, output: job.output, reason: "up to date")
                progress?.inputSkipped(job: i)
                finished?(outcomes[i]!)
            case .outdated:
                var replaced = job
                replaced.replace = true
                pending.append((i, replaced))
            case .absent, .foreign:
                pending.append((i, job))
            }
        }
        let positions = pending.map(\.index)
        var moduleFinished: (@Sendable (Int, Int, Int) -> Void)?
        if let progress {
            moduleFinished = { job, done, total in progress.moduleFinished(job: positions[job], done: done, total: total) }
        }
        let planned = pending.map(\.job)
        @Sendable func outcome(_ n: Int, _ result: Result<ConversionReport, ConversionError>) -> Outcome {
            switch result {
            case .success(let report): .converted(report)
            case .failure(let error): .failed(input: planned[n].input, output: planned[n].output, reason: error.description)
            }
        }
        // Once the terminal has seen a report, the run keeps only what its reports still need.
        let retention = self.retention
        @Sendable func keep(_ n: Int, _ report: ConversionReport) -> ConversionReport {
            retention.keep(report, position: positions[n])
        }
        let retained: (@Sendable (Int, ConversionReport) -> ConversionReport)? = retention.keepsWhole ? nil : keep
        let told: @Sendable (Int, Result<ConversionReport, ConversionError>) -> Void = { n, result in
            progress?.inputFinished(job: positions[n])
            finished?(outcome(n, result))
        }
        let results = BatchConversion(options: request.options, jobs: request.jobs)
            .run(planned, moduleFinished: moduleFinished, progress: told, retained: retained)
        for (n, result) in results.enumerated() { outcomes[pending[n].index] = outcome(n, result) }
        progress?.finish()
        return outcomes.map { $0! }
    }

    /// The input bytes of each job, for a ``ProgressMeter``.
    public var inputBytes: [Int] { jobs.map { ShardPartition.inputBytes($0.input) } }

    /// The positions (in `inputs`) of `shard`'s inputs (``ShardPartition``).
    static func positions(of shard: Shard, inputs: [String], root: String?) throws(PlanError) -> [Int] {
        var items: [ShardPartition.Item] = []
        var seen: [String: String] = [:]
        for input in inputs {
            guard let relative = ShardPartition.relativePath(input, root: root) else {
                throw .usage("--shard: \(input) is not under --root \(root ?? ".")")
            }
            if let other = seen.updateValue(input, forKey: relative) {
                throw .usage("--shard: \(other) and \(input) are the same input (\(relative)); give each once.")
            }
            items.append(.init(path: relative, bytes: ShardPartition.inputBytes(input)))
        }
        let assigned = ShardPartition.assign(items, shards: shard.count)
        return assigned.indices.filter { assigned[$0] == shard.index - 1 }
    }

    /// Appends `text` to the file at `path` (created if missing); a description of the problem, or nil.
    static func append(_ text: String, to path: String) -> String? {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        let code = Array(text.utf8).withUnsafeBytes { FileSystem.writeAll(fd, $0) }
        if code != 0 { return String(cString: strerror(code)) }
        return nil
    }
}
