/// One run of `lordba-convert merge-reports`: reads the shard reports, merges them
/// (``ReportMerge``), writes the merged JSON, HTML and Markdown, and decides the exit status as a
/// single run over the whole batch would (1 if an input failed, 3 above the recorded
/// `max_error`), so the merge job is the batch's gate.
public struct MergeRun: Sendable {
    /// What the command line asked for.
    public struct Request: Sendable {
        /// The shards' `--report-json` files.
        public var reports: [String]
        public var reportJSONPath: String?
        public var reportHTMLPath: String?
        public var summaryMarkdownPath: String?
        /// A file the Markdown summary is appended to (`GITHUB_STEP_SUMMARY`).
        public var stepSummaryPath: String?
        /// GitHub Actions annotations on standard output (`GITHUB_ACTIONS=true`).
        public var annotations = false
        /// Replace existing outputs (`--force`; regular files only).
        public var overwrite = false
        /// Gate the merged batch at this threshold instead of the one the shards recorded
        /// (`--max-error`), so shards can run without a gate and the merge job decides.
        public var maxError: Double?

        public init(reports: [String], reportJSONPath: String? = nil, reportHTMLPath: String? = nil,
                    summaryMarkdownPath: String? = nil) {
            self.reports = reports
            self.reportJSONPath = reportJSONPath
            self.reportHTMLPath = reportHTMLPath
            self.summaryMarkdownPath = summaryMarkdownPath
        }
    }

    public let request: Request

    public init(_ request: Request) { self.request = request }

    /// Does the whole command; nothing is written unless the reports merge.
    public func run() -> ConversionRun.Verdict {
        func failed(_ message: String, counts: RunCounts = RunCounts()) -> ConversionRun.Verdict {
            ConversionRun.Verdict(status: .failed, messages: ["error: " + message], exceeded: [], counts: counts)
        }
        let outputs = [request.reportJSONPath, request.reportHTMLPath, request.summaryMarkdownPath]
            .compactMap { $0 }.filter { $0 != ConversionRun.standardOutput }
        let inputIdentities = request.reports.compactMap { path in FileIdentity(path: path).map { ($0, path) } }
        for output in outputs {
            if let identity = FileIdentity(path: output), let (_, input) = inputIdentities.first(where: { $0.0 == identity }) {
                return failed("\(output): refusing to write over the input \(input)")
            }
            if !request.overwrite && FileSystem.exists(output) { return failed("\(output): report exists (use --force to replace it)") }
            if let problem = AtomicFile.replaceProblem(output) { return failed(problem.description) }
        }
        var documents: [(path: String, document: JSONValue)] = []
        for path in request.reports {
            do { documents.append((path, try ReportReading.document(path: path))) } catch { return failed(error.description) }
        }
        let merged: JSONValue
        let outcomes: [RunOutcome]
        do {
            let combined = try ReportMerge.merge(documents)
            merged = request.maxError.map { ReportMerge.gated(combined, maxError: $0) } ?? combined
            outcomes = try ReportReading.outcomes(merged, path: "merged report")
        } catch let error as ReportMerge.MergeError {
            return failed(error.description)
        } catch {
            return failed("\(error)")
        }
        let counts = RunCounts(outcomes)
        let maxError = merged["max_error"]?.doubleValue
        let exceeded = ReportReading.exceeded(merged)
        var printed: [String] = []
        func emit(_ text: String, to path: String?) -> String? {
            guard let path else { return nil }
            if path == ConversionRun.standardOutput {
                printed.append(text)
                return nil
            }
            do { try AtomicFile.write(Array(text.utf8), to: path, overwrite: request.overwrite) } catch { return "error: \(error)" }
            return nil
        }
        let converted = outcomes.compactMap { o -> ConversionReport? in if case .converted(let r) = o { r } else { nil } }
        let failures = outcomes.compactMap { o -> (input: String, reason: String)? in
            if case .failed(let input, _, let reason) = o { (input, reason) } else { nil }
        }
        let markdown = CISummary.markdown(outcomes, maxError: maxError, exceeded: exceeded)
        var messages: [String] = []
        for (text, path) in [(merged.serialized(indent: 2) + "\n", request.reportJSONPath),
                             (HTMLReport.page(converted, failures: failures, maxError: maxError), request.reportHTMLPath),
                             (markdown, request.summaryMarkdownPath)] {
            if let problem = emit(text, to: path) {
                return ConversionRun.Verdict(status: .failed, messages: [problem], standardOutput: printed, exceeded: exceeded, counts: counts)
            }
        }
        if let path = request.stepSummaryPath, let problem = ConversionRun.append(markdown + "\n", to: path) {
            messages.append("warning: GITHUB_STEP_SUMMARY \(path): \(problem)")
        }
        if request.annotations {
            // Standard error when a report is on standard output (as in ConversionRun.finish).
            let annotations = CISummary.annotations(outcomes, maxError: maxError, exceeded: exceeded)
            if printed.isEmpty { printed += annotations.map { $0 + "\n" } } else { messages += annotations }
        }
        var status = ConversionRun.ExitStatus.success
        if counts.failed > 0 {
            messages.append("\(counts.failed) of \(counts.total) inputs failed")
            status = .failed
        } else if let maxError, !exceeded.isEmpty {
            messages += CISummary.gateMessages(exceeded, maxError: maxError)
            status = .errorAboveThreshold
        }
        return ConversionRun.Verdict(status: status, messages: messages, standardOutput: printed, exceeded: exceeded, counts: counts)
    }
}
