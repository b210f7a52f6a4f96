import ArgumentParser
import LoRDBA

/// `lordba-convert merge-reports a.json b.json … --report-json all.json`: merges the JSON reports
/// of the shards of one batch (``MergeRun``) and gates on the result.
struct MergeReports: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-reports",
        abstract: "Merge the JSON reports of every --shard I/N of a batch into one report (and HTML, Markdown); exit 1 if an input failed, 3 above --max-error (given here, or recorded by the shards).")

    @Argument(help: "The shards' --report-json files, one per shard, in any order.", completion: .file(extensions: ["json"]))
    var reports: [String]

    @OptionGroup(title: "Reports") var outputs: ReportOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        try UnknownFlag.check(Self.self)
        if reports.isEmpty { throw ValidationError("Give the shards' JSON reports.") }
    }

    func run() throws {
        var request = MergeRun.Request(reports: reports, reportJSONPath: outputs.reportJson, reportHTMLPath: outputs.reportHtml,
                                       summaryMarkdownPath: outputs.summaryMd)
        request.overwrite = output.force
        request.maxError = outputs.maxError
        request.stepSummaryPath = Environment.stepSummary
        request.annotations = Environment.githubActions
        let verdict = MergeRun(request).run()
        let console = Console(reportOnStandardOutput: outputs.usesStandardOutput)
        verdict.standardOutput.forEach(console.document)
        if !output.quiet && verdict.counts.total > 0 { console.human("merged \(reports.count) reports: inputs: " + verdict.counts.line) }
        verdict.messages.forEach(printError)
        if verdict.status != .success { throw ExitCode(verdict.status.rawValue) }
    }
}
