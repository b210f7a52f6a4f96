/// The machine-readable report of a run (`--report-json`); its schema is `formats/report.schema.json`.
public enum ReportJSON {
    /// Schema version, bumped when a field changes meaning (fields are only ever added).
    public static let schemaVersion = 1

    /// One input of a run: converted, or failed with a one-line reason.
    public enum Entry: Sendable {
        case converted(ConversionReport)
        case failed(input: String, output: String, reason: String)
    }

    /// The whole document for a run over `entries`, with the CI gate's threshold if one was set.
    public static func document(_ entries: [Entry], maxError: Double?) -> JSONValue {
        var exceeded: [JSONValue] = []
        let inputs: [JSONValue] = entries.map { entry in
            switch entry {
            case .converted(let report):
                if let maxError {
                    for m in report.modules where m.errors.productError > maxError {
                        exceeded.append(.object([("input", .string(report.input)), ("module", .string(m.name)),
                                                 ("product_error", .double(m.errors.productError))]))
                    }
                }
                return input(report)
            case .failed(let input, let output, let reason):
                return .object([
                    ("input", .string(input)), ("output", .string(output)), ("status", .string("failed")),
                    ("error", .string(reason)), ("modules", .array([])), ("summary", .null),
                ])
            }
        }
        return .object([
            ("schema_version", .integer(Int64(schemaVersion))),
            ("tool", .string("lordba-convert")),
            ("inputs", .array(inputs)),
            ("max_error", maxError.map(JSONValue.double) ?? .null),
            ("exceeded", .array(exceeded)),
        ])
    }

    /// The object for one converted input.
    public static func input(_ report: ConversionReport) -> JSONValue {
        let s = report.summary
        return .object([
            ("input", .string(report.input)),
            ("output", .string(report.output)),
            ("status", .string("ok")),
            ("weights", .string(report.weightsPath)),
            ("layout", .string(report.layout.rawValue)),
            ("modules", .array(report.modules.map(module))),
            ("summary", .object([
                ("modules", .integer(Int64(s.modules))),
                ("bytes_in", .integer(Int64(s.bytesIn))),
                ("bytes_out", .integer(Int64(s.bytesOut))),
                ("ratio_vs_fp16", .double(s.ratioVsFP16)),
                ("ratio_vs_input", .double(s.ratioVsInput)),
                ("product_error_median", .double(s.productErrorMedian)),
                ("product_error_max", .double(s.productErrorMax)),
                ("worst_modules", .array(s.worst.map { .string($0.name) })),
                ("carried_tensors", .integer(Int64(report.carriedTensors))),
                ("carried_bytes", .integer(Int64(report.carriedBytes))),
                ("seconds", .double(report.seconds)),
            ] + (report.baselineMedians.map { medians in
                [("compare_median", JSONValue.object(medians.map { ($0.0, JSONValue.double($0.1)) })),
                 ("compare_note", .string(ConversionReport.proxyCaveat))]
            } ?? []))),
            ("notes", .array(report.notes.map(JSONValue.string))),
        ])
    }

    /// The object for one module.
    public static func module(_ m: ConversionReport.Module) -> JSONValue {
        let e = m.errors
        func optional(_ v: Double?) -> JSONValue { v.map(JSONValue.double) ?? .null }
        var members: [(String, JSONValue)] = [
            ("name", .string(m.name)),
            ("kind", .string(m.kind.name)),
            ("in", .integer(Int64(m.inFeatures))),
            ("out", .integer(Int64(m.outFeatures))),
            ("rank", .integer(Int64(m.rank))),
            ("binary_rank", .integer(Int64(m.binaryRank))),
            ("scale", .double(m.scale)),
            ("rho_a", optional(e.rhoA)),
            ("rho_b", optional(e.rhoB)),
            ("error_a", optional(e.errorA)),
            ("error_b", optional(e.errorB)),
            ("product_error", .double(e.productError)),
            ("product_error_bound", optional(e.productErrorBound)),
            ("cosine", .double(e.cosine)),
            ("bytes", .integer(Int64(m.bytes))),
            ("sign_bits", .integer(Int64(m.signBits))),
            ("scale_bytes", .integer(Int64(m.scaleBytes))),
            ("fp16_bytes", .integer(Int64(m.fp16Bytes))),
            ("identity_applies", .bool(e.identityApplies)),
            ("plain_product_error", .double(m.plainProductError)),
            ("method", .string(m.method)),
        ]
        if let b = m.baselines {
            members.append(("compare", .object([
                ("budget_bytes", .integer(Int64(m.bytes))),
                ("svd_rank", .integer(Int64(b.svdRank))),
                ("svd_bytes", .integer(Int64(b.svdBytes))),
                ("svd_truncation", .double(b.svdTruncation)),
                ("sign_per_factor", .double(b.signPerFactor)),
                ("sign_per_row", .double(b.signPerRow)),
                ("two_bit_rowwise", .double(b.twoBitRowwise)),
                ("two_bit_bytes", .integer(Int64(b.twoBitBytes))),
            ])))
        }
        if case .conv(let kernel) = m.kind {
            members.insert(("kernel", .array(kernel.map { .integer(Int64($0)) })), at: 2)
        }
        return .object(members)
    }
}
