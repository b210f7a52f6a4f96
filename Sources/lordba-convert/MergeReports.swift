import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// `lordba-convert merge-reports a.json b.json … --report-json all.json`: merges the JSON reports
/// of the shards of one batch (``MergeRun``) and gates on the result.
struct MergeReports: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-reports",
        abstract: "Merge the JSON reports of every --shard I/N of a batch into one report (and HTML, Markdown); exit 1 if an input failed, 3 above --max-error (given here, or recorded by the shards).")

    @Argument(help: "The shards' --report-json files, one per shard, in any order.", completion: .file(extensions: ["json"]))
    var reports: [String]

    @Option(name: .long, help: ArgumentHelp("Write the merged JSON report here (- for standard output).", valueName: "path"), completion: .file())
    var reportJson: String?

    @Option(name: .long, help: ArgumentHelp("Write the merged HTML report here (- for standard output).", valueName: "path"), completion: .file())
    var reportHtml: String?

    @Option(name: .long, help: ArgumentHelp("Write the Markdown summary here; also appended to $GITHUB_STEP_SUMMARY when that is set.", valueName: "path"), completion: .file())
    var summaryMd: String?

    @Option(name: .long, help: ArgumentHelp("Gate the merged batch at this product error instead of the --max-error the shards recorded: exit 3 when a module exceeds it.", valueName: "x"))
    var maxError: Double?

    @Flag(name: .long, help: "Replace existing outputs (regular files only).")
    var force = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        if reports.isEmpty { throw ValidationError("Give the shards' JSON reports.") }
        if let maxError, !(maxError >= 0) { throw ValidationError("--max-error must be a non-negative number.") }
    }

    func run() throws {
        var request = MergeRun.Request(reports: reports, reportJSONPath: reportJson, reportHTMLPath: reportHtml,
                                       summaryMarkdownPath: summaryMd)
        request.overwrite = force
        request.maxError = maxError
        func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        request.stepSummaryPath = environment("GITHUB_STEP_SUMMARY").flatMap { $0.isEmpty ? nil : $0 }
        request.annotations = environment("GITHUB_ACTIONS") == "true"
        let verdict = MergeRun(request).run()
        verdict.standardOutput.forEach { print($0, terminator: "") }
        if !quiet && verdict.counts.total > 0 { print("merged \(reports.count) reports: inputs: " + verdict.counts.line) }
        verdict.messages.forEach(printError)
        if verdict.status != .success { throw ExitCode(verdict.status.rawValue) }
    }
}
