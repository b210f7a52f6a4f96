/// The machine-readable report of a run (`--report-json`); its schema is `formats/report.schema.json`.
public enum ReportJSON {
    /// Schema version, bumped when a field changes meaning (fields are only ever added).
    public static let schemaVersion = 1

    /// One input of a run: converted, or failed with a one-line reason.
    public enum Entry: Sendable {
        case converted(ConversionReport)
        case failed(input: String, output: String, reason: String)
    }

    /// A module above the `--max-error` threshold.
    public struct Exceeded: Sendable, Equatable {
        public var input: String
        public var module: String
        public var productError: Double

        /// The object of the report's `exceeded` array.
        public var json: JSONValue {
            .object([("input", .string(input)), ("module", .string(module)), ("product_error", .double(productError))])
        }
    }

    /// The `--max-error` gate, the only place it is computed: every converted module whose
    /// product error is above `maxError`, in input and module order (none without a threshold).
    public static func exceeded(_ entries: some Sequence<Entry>, maxError: Double?) -> [Exceeded] {
        guard let maxError else { return [] }
        var exceeded: [Exceeded] = []
        for case .converted(let report) in entries {
            // NaN is never within the threshold.
            for m in report.modules where !(m.errors.productError <= maxError) {
                exceeded.append(Exceeded(input: report.input, module: m.name, productError: m.errors.productError))
            }
        }
        return exceeded
    }

    /// The whole document for a run over `entries`, gated at `maxError`.
    public static func document(_ entries: [Entry], maxError: Double?) -> JSONValue {
        document(entries, maxError: maxError, exceeded: exceeded(entries, maxError: maxError))
    }

    /// The whole document for a run over `entries`, with the CI gate's threshold and its verdict
    /// (``exceeded(_:maxError:)``) if a threshold was set.
    public static func document(_ entries: [Entry], maxError: Double?, exceeded: [Exceeded]) -> JSONValue {
        let inputs: [JSONValue] = entries.map { entry in
            switch entry {
            case .converted(let report):
                return input(report)
            case .failed(let input, let output, let reason):
                return failed(input: input, output: output, reason: reason)
            }
        }
        let document: JSONValue = .object([
            ("schema_version", .integer(Int64(schemaVersion))),
            ("tool", .string("lordba-convert")),
            ("tool_version", .string(ToolVersion.current)),
            ("inputs", .array(inputs)),
            ("max_error", maxError.map(JSONValue.double) ?? .null),
            ("exceeded", .array(exceeded.map(\.json))),
        ])
        return withNonFiniteNote(document)
    }

    /// `document` with a `non_finite` member listing the paths of NaN or ±∞ numbers (which the
    /// serializer writes as `null`), when there are any.
    static func withNonFiniteNote(_ document: JSONValue) -> JSONValue {
        let paths = document.nonFinitePaths()
        guard !paths.isEmpty, case .object(let members) = document else { return document }
        return .object(members + [("non_finite", .array(paths.map(JSONValue.string)))])
    }

    /// The object for an input that failed, with its one-line reason.
    public static func failed(input: String, output: String, reason: String) -> JSONValue {
        .object([("input", .string(input)), ("output", .string(output)), ("status", .string("failed")),
                 ("error", .string(reason)), ("modules", .array([])), ("summary", .null)])
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
            ("tool_version", .string(report.provenance.toolVersion)),
            ("input_sha256", optional(report.provenance.inputSHA256)),
            ("config", optional(report.provenance.configPath)),
            ("config_sha256", optional(report.provenance.configSHA256)),
            ("calibration_sha256", optional(report.provenance.calibrationSHA256)),
            ("options", .object(report.provenance.options)),
        ])
    }

    private static func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }

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
