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

/// The `--report-json` document of a run: ``ReportJSON``'s document with skipped inputs in
/// their places (`"status": "skipped"`), the `counts` of converted, skipped and failed inputs,
/// and the `shard` record (null unless `--shard`).
public enum RunReportJSON {
    public static func document(_ outcomes: [RunOutcome], maxError: Double?, exceeded: [ReportJSON.Exceeded],
                                shard: ShardRecord?) -> JSONValue {
        let base = ReportJSON.document(outcomes.compactMap(\.entry), maxError: maxError, exceeded: exceeded)
        guard case .object(let members) = base else { return base }
        var reported = (base["inputs"]?.arrayValue ?? []).makeIterator()
        let inputs: [JSONValue] = outcomes.map { outcome in
            if case .skipped(let input, let output, let reason) = outcome {
                return skipped(input: input, output: output, reason: reason)
            }
            return reported.next() ?? .null
        }
        var rebuilt = members.filter { $0.0 != "non_finite" }.map { key, value in
            (key, key == "inputs" ? JSONValue.array(inputs) : value)
        }
        rebuilt.append(("counts", RunCounts(outcomes).json))
        rebuilt.append(("shard", shard?.json ?? .null))
        return ReportJSON.withNonFiniteNote(.object(rebuilt))
    }

    /// The object for an input left as it was.
    public static func skipped(input: String, output: String, reason: String) -> JSONValue {
        .object([("input", .string(input)), ("output", .string(output)), ("status", .string("skipped")),
                 ("reason", .string(reason)), ("modules", .array([])), ("summary", .null)])
    }
}
