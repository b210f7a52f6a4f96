import Synchronization

/// What a run keeps of its inputs' reports once the terminal has seen them, so that a batch of
/// thousands of inputs holds little per input: for the gate and the annotations, the modules
/// above `--max-error` in one list; for the Markdown summary, each input's summary
/// (``ConversionReport/retainedRecord(keepingSummary:)``) and the run's worst modules so far
/// (``CISummary/WorstModules``); for the JSON report, each entry in a ``ReportSpool``. Only the
/// HTML report needs every report whole: with it (or when no spool can be made for a JSON
/// report), nothing is dropped.
final class BatchRetention: Sendable {
    /// Where the JSON report's entries wait, or nil.
    let spool: ReportSpool?
    /// Whether reports are kept whole.
    let keepsWhole: Bool
    private let maxError: Double?
    /// Whether a Markdown summary is written (its rows read each input's summary).
    private let summarized: Bool
    private let worst: Mutex<CISummary.WorstModules>?
    /// The modules above the gate so far, each with its input's position in the run, in the order
    /// inputs finished (module order within an input).
    private let gate: Mutex<[(position: Int, module: ReportJSON.Exceeded)]>?
    /// The module names the gate list holds, one copy each: the adapters of a batch mostly share
    /// their module names, and a name kept from each finished conversion would pin a small block
    /// amid the freed working memory of the next (measured: about 8 KB of heap per input).
    private let names = Mutex<Set<String>>([])

    init(_ request: ConversionRun.Request, jobs: Int) {
        let json = request.reportJSONPath != nil
        spool = jobs > 1 && json && request.reportHTMLPath == nil ? ReportSpool() : nil
        keepsWhole = request.reportHTMLPath != nil || (json && spool == nil)
        maxError = request.maxError
        summarized = request.summaryMarkdownPath != nil || request.stepSummaryPath != nil
        worst = summarized && !keepsWhole ? Mutex(CISummary.WorstModules()) : nil
        gate = request.maxError != nil && !keepsWhole ? Mutex([]) : nil
    }

    /// What the run keeps of `report`, the input at `position` of the run: the whole report when
    /// reports are kept whole or its entry could not be spooled, else its record.
    func keep(_ report: ConversionReport, position: Int) -> ConversionReport {
        if keepsWhole { return report }
        worst?.withLock { $0.add(report, position: position) }
        if maxError != nil {
            let above = ReportJSON.exceeded(CollectionOfOne(.converted(report)), maxError: maxError).map { e in
                ReportJSON.Exceeded(input: e.input, module: names.withLock { $0.insert(e.module).memberAfterInsert },
                                    productError: e.productError)
            }
            if !above.isEmpty { gate?.withLock { list in list += above.map { (position, $0) } } }
        }
        if let spool, !spool.store(report, job: position) { return report }
        return report.retainedRecord(keepingSummary: summarized)
    }

    /// The run's worst modules, when reports were not kept whole and a summary was asked for
    /// (else nil: ``CISummary/markdown(_:maxError:exceeded:shard:worst:)`` reads them from the reports).
    var worstModules: CISummary.WorstModules? { worst?.withLock { $0 } }

    /// The modules above the gate in input and module order, as ``ReportJSON/exceeded(_:maxError:)``
    /// gives them from whole reports; nil when reports were kept whole or there is no gate.
    var exceeded: [ReportJSON.Exceeded]? {
        gate?.withLock { list in
            list.indices.sorted { (list[$0].position, $0) < (list[$1].position, $1) }.map { list[$0].module }
        }
    }
}

extension ConversionReport {
    /// What a batch keeps of this report once its gate entries are taken: the input and the
    /// output; with `keepingSummary`, for the Markdown summary's row, the summary too (without
    /// its worst modules).
    func retainedRecord(keepingSummary: Bool) -> ConversionReport {
        var record = ConversionReport(input: input, weightsPath: "", output: output, layout: layout, modules: [],
                                      carriedTensors: 0, carriedBytes: 0, carriedFP16Bytes: 0, bytesIn: 0,
                                      bytesOut: 0, notes: [], seconds: 0)
        if keepingSummary {
            var summary = self.summary
            summary.worst = []
            record.retainedSummary = summary
        }
        return record
    }
}
