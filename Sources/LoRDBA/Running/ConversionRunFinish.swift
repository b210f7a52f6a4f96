/// The end of a run: once every input is done, the single `--max-error` gate, the reports and
/// summaries, and the exit status.
extension ConversionRun {
    /// Applies the gate, writes the reports and summaries, and decides the exit status.
    public func finish(_ outcomes: [Outcome]) -> Verdict {
        let counts = RunCounts(outcomes)
        // A batch that kept records has gathered the gate's modules as its inputs finished.
        let exceeded = retention.exceeded ?? ReportJSON.exceeded(outcomes.lazy.compactMap(\.entry), maxError: request.maxError)
        var messages: [String] = []
        var printed: [String] = []
        func verdict(_ status: ExitStatus) -> Verdict {
            Verdict(status: status, messages: messages, standardOutput: printed, exceeded: exceeded, counts: counts)
        }
        // Writes what `produce` hands on to `path` (standard output: to the caller); the problem, or nil.
        func emit(to path: String, _ produce: (([UInt8]) throws(FileError) -> Void) throws(FileError) -> Void) -> String? {
            do throws(FileError) {
                if path == Self.standardOutput {
                    var bytes: [UInt8] = []
                    try produce { bytes += $0 }
                    printed.append(String(decoding: bytes, as: UTF8.self))
                } else {
                    try AtomicFile.write(to: path, overwrite: request.options.overwrite) { sink throws(FileError) in
                        try produce { bytes throws(FileError) in try sink.write(bytes) }
                    }
                }
                return nil
            } catch {
                if error.isExistingDestination { return "error: \(path): report exists (use --force to replace it)" }
                return "error: \(error)"
            }
        }
        func emit(_ text: String, to path: String) -> String? {
            emit(to: path) { write throws(FileError) in try write(Array(text.utf8)) }
        }
        if let path = request.reportJSONPath {
            let written = emit(to: path) { write throws(FileError) in
                try RunReportJSON.write(outcomes, maxError: request.maxError, exceeded: exceeded, shard: shardRecord,
                                        spool: retention.spool, path: path, to: write)
            }
            if let failure = written {
                messages = [failure]
                return verdict(.failed)
            }
        }
        if let path = request.reportHTMLPath {
            let entries = outcomes.compactMap(\.entry)
            let converted = entries.compactMap { entry -> ConversionReport? in
                if case .converted(let r) = entry { r } else { nil }
            }
            let failed = entries.compactMap { entry -> (input: String, reason: String)? in
                if case .failed(let input, _, let reason) = entry { (input, reason) } else { nil }
            }
            if let failure = emit(HTMLReport.page(converted, failures: failed, maxError: request.maxError), to: path) {
                messages = [failure]
                return verdict(.failed)
            }
        }
        if request.summaryMarkdownPath != nil || request.stepSummaryPath != nil {
            let markdown = CISummary.markdown(outcomes, maxError: request.maxError, exceeded: exceeded, shard: shardRecord,
                                              worst: retention.worstModules)
            if let path = request.summaryMarkdownPath, let failure = emit(markdown, to: path) {
                messages = [failure]
                return verdict(.failed)
            }
            if let path = request.stepSummaryPath, let problem = Self.append(markdown + "\n", to: path) {
                messages.append("warning: GITHUB_STEP_SUMMARY \(path): \(problem)")
            }
        }
        if request.annotations {
            // On standard output (GitHub's convention), unless a report is being written there:
            // then on standard error, which the runner reads too, so the report stays parseable.
            let annotations = CISummary.annotations(outcomes, maxError: request.maxError, exceeded: exceeded)
            if printed.isEmpty { printed += annotations.map { $0 + "\n" } } else { messages += annotations }
        }
        if counts.failed > 0 {
            if jobs.count > 1 { messages.append("\(counts.failed) of \(jobs.count) inputs failed") }
            return verdict(.failed)
        }
        if !exceeded.isEmpty, let maxError = request.maxError {
            messages += CISummary.gateMessages(exceeded, maxError: maxError)
            return verdict(.errorAboveThreshold)
        }
        return verdict(.success)
    }
}
