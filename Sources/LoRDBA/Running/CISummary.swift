/// What a run tells a CI system: the Markdown job summary (`--summary-md`, `GITHUB_STEP_SUMMARY`),
/// GitHub Actions annotations, and the `--max-error` lines for standard error.
public enum CISummary {
    /// Modules named per input on standard error and in annotations; the rest are counted (the
    /// JSON report lists them all).
    public static let modulesListed = 10

    /// The Markdown summary: counts, one row per input, the worst modules of the run, the gate.
    /// - Parameter worst: the run's worst modules when the reports no longer hold them (a batch's
    ///   records); by default they are read from the reports.
    public static func markdown(_ outcomes: [RunOutcome], maxError: Double?, exceeded: [ReportJSON.Exceeded],
                                shard: ShardRecord? = nil, worst: WorstModules? = nil) -> String {
        let counts = RunCounts(outcomes)
        var md = "## lordba-convert: \(counts.line)"
        if let shard { md += " (shard \(shard.shard) of a \(shard.inputsTotal)-input batch)" }
        md += "\n\n| input | status | modules | ratio vs fp16 | median error | worst error |\n"
        md += "|---|---|--:|--:|--:|--:|\n"
        for outcome in outcomes {
            switch outcome {
            case .converted(let report):
                let s = report.summary
                md += "| \(code(report.input)) | ok | \(s.modules) | \(Format.fixed(s.ratioVsFP16, 1))× | "
                    + "\(Format.fixed(s.productErrorMedian, 3)) | \(Format.fixed(s.productErrorMax, 3)) |\n"
            case .skipped(let input, _, let reason):
                md += "| \(code(input)) | skipped: \(cell(reason)) | – | – | – | – |\n"
            case .failed(let input, _, let reason):
                md += "| \(code(input)) | **failed**: \(cell(reason)) | – | – | – | – |\n"
            }
        }
        let listed = (worst ?? WorstModules(outcomes)).listed
        if !listed.isEmpty {
            md += "\n### Worst modules\n\n| input | module | product error |\n|---|---|--:|\n"
            for w in listed { md += "| \(code(w.input)) | \(code(w.module)) | \(Format.fixed(w.error, 3)) |\n" }
        }
        md += "\n### Gate\n\n"
        if let maxError {
            if exceeded.isEmpty {
                md += "`--max-error \(maxError)`: passed, every converted module is within it.\n"
            } else {
                let inputs = Set(exceeded.map(\.input)).count
                md += "`--max-error \(maxError)`: **\(exceeded.count) module\(exceeded.count == 1 ? "" : "s") above it** "
                    + "in \(inputs) input\(inputs == 1 ? "" : "s") (exit 3).\n"
            }
        } else {
            md += "No `--max-error` gate.\n"
        }
        if counts.failed > 0 { md += "\n**\(counts.failed) input\(counts.failed == 1 ? "" : "s") failed** (exit 1).\n" }
        return md
    }

    /// GitHub Actions workflow commands: `::error file=…::` per failed input, `::warning file=…::`
    /// per input with modules above `--max-error`.
    public static func annotations(_ outcomes: [RunOutcome], maxError: Double?, exceeded: [ReportJSON.Exceeded]) -> [String] {
        var lines: [String] = []
        for case .failed(let input, _, let reason) in outcomes {
            lines.append("::error file=\(property(input)),title=\(property("lordba-convert: conversion failed"))::\(data(reason))")
        }
        if let maxError {
            for (input, modules) in grouped(exceeded) {
                lines.append("::warning file=\(property(input)),title=\(property("lordba-convert: product error above --max-error \(maxError)"))::"
                             + data(listing(modules)))
            }
        }
        return lines
    }

    /// The gate's lines for standard error: one per input, naming its worst `modulesListed`
    /// modules above `maxError` and counting the rest.
    public static func gateMessages(_ exceeded: [ReportJSON.Exceeded], maxError: Double) -> [String] {
        grouped(exceeded).map { input, modules in
            "product error above --max-error \(maxError) in \(input) (\(modules.count) module\(modules.count == 1 ? "" : "s")): "
                + listing(modules)
        }
    }

    /// The modules worst first, at most `modulesListed`, then `… and N more (all in --report-json)`.
    static func listing(_ modules: [ReportJSON.Exceeded]) -> String {
        let sorted = worstFirst(modules.map(\.productError)).map { modules[$0] }
        var text = sorted.prefix(modulesListed).map { "\($0.module) (\(Format.fixed($0.productError, 3)))" }.joined(separator: ", ")
        if sorted.count > modulesListed { text += ", … and \(sorted.count - modulesListed) more (all in --report-json)" }
        return text
    }

    /// The positions of `errors`, worst first: NaN first, then descending, then in order.
    static func worstFirst(_ errors: [Double]) -> [Int] {
        errors.indices.sorted { worse(errors[$0], than: errors[$1]) ?? ($0 < $1) }
    }

    /// Whether product error `x` ranks before `y` (NaN first, then descending); nil for a tie.
    static func worse(_ x: Double, than y: Double) -> Bool? {
        if x.isNaN != y.isNaN { return x.isNaN }
        if x != y, !x.isNaN { return x > y }
        return nil
    }

    /// The run's worst modules, at most ``modulesListed``, worst first and ties in run order:
    /// what the summary lists. A batch adds each report as it finishes (in any order), so the
    /// list does not need the reports kept.
    public struct WorstModules: Sendable {
        public struct Entry: Sendable {
            public var input: String
            public var module: String
            public var error: Double
            /// The input's position in the run and the module's in the input, for ties.
            var order: (Int, Int)
        }

        /// The modules, worst first.
        public private(set) var listed: [Entry] = []

        public init() {}

        /// The list over the converted inputs of `outcomes`.
        public init(_ outcomes: [RunOutcome]) {
            for (position, outcome) in outcomes.enumerated() {
                if case .converted(let report) = outcome { add(report, position: position) }
            }
        }

        /// Adds the modules of `report`, the input at `position` of the run.
        public mutating func add(_ report: ConversionReport, position: Int) {
            let candidates = report.modules.enumerated().map { n, m in
                Entry(input: report.input, module: m.name, error: m.errors.productError, order: (position, n))
            }
            listed = (listed + candidates).sorted { a, b in worse(a.error, than: b.error) ?? (a.order < b.order) }
                .prefix(modulesListed).map { $0 }
        }
    }

    /// The exceeded modules by input, inputs in first-seen order.
    static func grouped(_ exceeded: [ReportJSON.Exceeded]) -> [(String, [ReportJSON.Exceeded])] {
        var order: [String] = []
        var byInput: [String: [ReportJSON.Exceeded]] = [:]
        for e in exceeded {
            if byInput[e.input] == nil { order.append(e.input) }
            byInput[e.input, default: []].append(e)
        }
        return order.map { ($0, byInput[$0]!) }
    }

    /// A workflow command's message, escaped as GitHub's toolkit does.
    static func data(_ text: String) -> String {
        text.replacingAll("%", "%25").replacingAll("\r", "%0D").replacingAll("\n", "%0A")
    }

    /// A workflow command's property value (also `:` and `,` escaped).
    static func property(_ text: String) -> String {
        data(text).replacingAll(":", "%3A").replacingAll(",", "%2C")
    }

    /// Inline code in a table cell (backticks and pipes neutralised).
    static func code(_ text: String) -> String {
        "`" + cell(text).replacingAll("`", "'") + "`"
    }

    /// Text safe inside a Markdown table cell.
    static func cell(_ text: String) -> String {
        text.replacingAll("|", "\\|").replacingAll("\r", " ").replacingAll("\n", " ")
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in the library).
    func replacingAll(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
