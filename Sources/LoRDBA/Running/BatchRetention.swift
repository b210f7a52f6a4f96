import Synchronization

/// What a run keeps of its inputs' reports once the terminal has seen them, so that a batch of
/// thousands of inputs holds little per input: for the gate and the annotations, each input's
/// modules above `--max-error`, and its summary when a Markdown summary is written
/// (``ConversionReport/retainedRecord(maxError:keepingSummary:)``); for the Markdown summary, the
/// run's worst modules so far (``CISummary/WorstModules``); for the JSON report, each entry in a
/// ``ReportSpool``. Only the HTML report needs every report whole:
/// with it (or when no spool can be made for a JSON report), nothing is dropped.
final class BatchRetention: Sendable {
    /// Where the JSON report's entries wait, or nil.
    let spool: ReportSpool?
    /// Whether reports are kept whole.
    let keepsWhole: Bool
    private let maxError: Double?
    /// Whether a Markdown summary is written (its rows read each input's summary).
    private let summarized: Bool
    private let worst: Mutex<CISummary.WorstModules>?

    init(_ request: ConversionRun.Request, jobs: Int) {
        let json = request.reportJSONPath != nil
        spool = jobs > 1 && json && request.reportHTMLPath == nil ? ReportSpool() : nil
        keepsWhole = request.reportHTMLPath != nil || (json && spool == nil)
        maxError = request.maxError
        summarized = request.summaryMarkdownPath != nil || request.stepSummaryPath != nil
        worst = summarized && !keepsWhole ? Mutex(CISummary.WorstModules()) : nil
    }

    /// What the run keeps of `report`, the input at `position` of the run: the whole report when
    /// reports are kept whole or its entry could not be spooled, else its record.
    func keep(_ report: ConversionReport, position: Int) -> ConversionReport {
        if keepsWhole { return report }
        worst?.withLock { $0.add(report, position: position) }
        if let spool, !spool.store(report, job: position) { return report }
        return report.retainedRecord(maxError: maxError, keepingSummary: summarized)
    }

    /// The run's worst modules, when reports were not kept whole and a summary was asked for
    /// (else nil: ``CISummary/markdown(_:maxError:exceeded:shard:worst:)`` reads them from the reports).
    var worstModules: CISummary.WorstModules? { worst?.withLock { $0 } }
}

extension ConversionReport {
    /// What a batch keeps of this report for the gate and the annotations: the input, the
    /// output and the modules above `maxError` (in file order, each with its name and errors
    /// alone); with `keepingSummary`, for the Markdown summary's row, the summary too (without
    /// its worst modules).
    func retainedRecord(maxError: Double?, keepingSummary: Bool) -> ConversionReport {
        // NaN is never within the gate.
        let kept = modules.filter { m in maxError.map { !(m.errors.productError <= $0) } == true }.map { m in
            Module(name: m.name, kind: m.kind, inFeatures: 0, outFeatures: 0, rank: 0, binaryRank: 0, scale: 0,
                   errors: m.errors, bytes: 0, signBits: 0, scaleBytes: 0, plainProductError: 0, method: "")
        }
        var record = ConversionReport(input: input, weightsPath: "", output: output, layout: layout, modules: kept,
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
