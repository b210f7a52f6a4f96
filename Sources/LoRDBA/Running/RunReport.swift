/// What happened to one input of a run: converted, skipped as up to date (`--skip-existing`), or
/// failed with a one-line reason.
public enum RunOutcome: Sendable {
    case converted(ConversionReport)
    case skipped(input: String, output: String, reason: String)
    case failed(input: String, output: String, reason: String)

    /// The input as the user named it.
    public var input: String {
        switch self {
        case .converted(let report): report.input
        case .skipped(let input, _, _), .failed(let input, _, _): input
        }
    }

    /// The report entry, or nil for a skipped input (which has no figures).
    public var entry: ReportJSON.Entry? {
        switch self {
        case .converted(let report): .converted(report)
        case .failed(let input, let output, let reason): .failed(input: input, output: output, reason: reason)
        case .skipped: nil
        }
    }

    public init(_ entry: ReportJSON.Entry) {
        switch entry {
        case .converted(let report): self = .converted(report)
        case .failed(let input, let output, let reason): self = .failed(input: input, output: output, reason: reason)
        }
    }
}

/// How many inputs a run converted, skipped and failed.
public struct RunCounts: Sendable, Equatable {
    public var converted = 0
    public var skipped = 0
    public var failed = 0

    public init(converted: Int = 0, skipped: Int = 0, failed: Int = 0) {
        self.converted = converted
        self.skipped = skipped
        self.failed = failed
    }

    public init(_ outcomes: [RunOutcome]) {
        for outcome in outcomes {
            switch outcome {
            case .converted: converted += 1
            case .skipped: skipped += 1
            case .failed: failed += 1
            }
        }
    }

    public var total: Int { converted + skipped + failed }

    /// `3 converted, 1 skipped, 0 failed`.
    public var line: String { "\(converted) converted, \(skipped) skipped, \(failed) failed" }

    /// The report's `counts` object.
    public var json: JSONValue {
        .object([("inputs", .integer(Int64(total))), ("converted", .integer(Int64(converted))),
                 ("skipped", .integer(Int64(skipped))), ("failed", .integer(Int64(failed)))])
    }
}

/// What a shard's report records so that `merge-reports` can put the batch back together and
/// notice a missing or repeated shard.
public struct ShardRecord: Sendable, Equatable {
    public var shard: Shard
    /// Inputs in the whole batch (every shard).
    public var inputsTotal: Int
    /// This shard's inputs' positions (0-based) in the whole batch's input list, ascending.
    public var positions: [Int]

    public init(shard: Shard, inputsTotal: Int, positions: [Int]) {
        self.shard = shard
        self.inputsTotal = inputsTotal
        self.positions = positions
    }

    /// The report's `shard` object.
    public var json: JSONValue {
        .object([("index", .integer(Int64(shard.index))), ("count", .integer(Int64(shard.count))),
                 ("inputs_total", .integer(Int64(inputsTotal))),
                 ("positions", .array(positions.map { .integer(Int64($0)) }))])
    }
}

/// The `--report-json` document of a run: ``ReportJSON``'s members with skipped inputs in their
/// places (`"status": "skipped"`), the `counts` of converted, skipped and failed inputs, and the
/// `shard` record (null unless `--shard`).
///
/// It is written piece by piece and never exists whole in memory: each converted input's entry
/// is copied from the run's ``ReportSpool`` when it was stored there, else serialized from its
/// report as it is written.
public enum RunReportJSON {
    /// Spaces per level of the report's text.
    public static let indent = 2

    /// Writes the document of `outcomes` to `emit`, in pieces of about 64 KiB, the last one
    /// ending in a newline. `path` names the report in errors.
    /// - Throws: what `emit` throws, or the spool's failure to read an entry back.
    static func write(_ outcomes: [RunOutcome], maxError: Double?, exceeded: [ReportJSON.Exceeded],
                             shard: ShardRecord?, spool: ReportSpool?, path: String,
                             to emit: ([UInt8]) throws(FileError) -> Void) throws(FileError) {
        var stream = JSONObjectStream(indent: indent)
        var nonFinite: [String] = []
        func member(_ key: String, _ value: JSONValue) {
            nonFinite += value.nonFinitePaths(key)
            stream.member(key, value)
        }
        member("schema_version", .integer(Int64(ReportJSON.schemaVersion)))
        member("tool", .string("lordba-convert"))
        member("tool_version", .string(ToolVersion.current))
        stream.beginArray("inputs")
        for (i, outcome) in outcomes.enumerated() {
            if stream.buffered >= 1 << 16 { try emit(stream.take()) }
            let at = "inputs[\(i)]"
            let value: JSONValue
            switch outcome {
            case .converted(let report):
                let stored: (text: [UInt8], nonFinite: [String])?
                do { stored = try spool?.entry(job: i) } catch {
                    throw FileError(path: path, operation: .readBackEntry(input: report.input), errno: error.errno)
                }
                if let stored {
                    nonFinite += stored.nonFinite.map { at + "." + $0 }
                    stream.item(serialized: stored.text)
                    continue
                }
                value = ReportJSON.input(report)
            case .failed(let input, let output, let reason):
                value = ReportJSON.failed(input: input, output: output, reason: reason)
            case .skipped(let input, let output, let reason):
                value = skipped(input: input, output: output, reason: reason)
            }
            nonFinite += value.nonFinitePaths(at)
            stream.item(value)
        }
        stream.endArray()
        member("max_error", maxError.map(JSONValue.double) ?? .null)
        stream.beginArray("exceeded")
        for (i, e) in exceeded.enumerated() {
            if stream.buffered >= 1 << 16 { try emit(stream.take()) }
            let value = e.json
            nonFinite += value.nonFinitePaths("exceeded[\(i)]")
            stream.item(value)
        }
        stream.endArray()
        member("counts", RunCounts(outcomes).json)
        member("shard", shard?.json ?? .null)
        if !nonFinite.isEmpty { stream.member("non_finite", .array(nonFinite.map(JSONValue.string))) }
        try emit(stream.finish() + [UInt8(ascii: "\n")])
    }

    /// The object for an input left as it was.
    public static func skipped(input: String, output: String, reason: String) -> JSONValue {
        .object([("input", .string(input)), ("output", .string(output)), ("status", .string("skipped")),
                 ("reason", .string(reason)), ("modules", .array([])), ("summary", .null)])
    }
}
