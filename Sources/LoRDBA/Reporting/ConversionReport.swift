/// What one conversion produced, module by module: the figures every output format shows.
public struct ConversionReport: Sendable {
    /// One module's figures.
    public struct Module: Sendable {
        public var name: String
        public var kind: ModuleKind
        public var inFeatures: Int
        public var outFeatures: Int
        /// The LoRA rank `r`.
        public var rank: Int
        /// The number of sign channels `k`.
        public var binaryRank: Int
        /// The LoRA scale `s`.
        public var scale: Double
        public var errors: ModuleErrors
        /// Bytes the module's sections occupy in the `.lba` (as stored, padding excluded).
        public var bytes: Int
        /// Sign bits stored (`k·(in + out)`, before row padding).
        public var signBits: Int
        /// Bytes of scale vectors.
        public var scaleBytes: Int
        /// Product error of plain binarization (as-is factors, rank-1 magnitudes), for comparison.
        public var plainProductError: Double
        /// How the stored module was made (`plain`, or e.g. `balanced · k=32 · als · ste`).
        public var method: String
        /// What the same bytes buy with other compressions (`--compare`), else `nil`.
        public var baselines: BaselineErrors?

        /// Bytes the module's two factors take in fp16: `2·r·(in + out)`.
        public var fp16Bytes: Int { 2 * rank * (inFeatures + outFeatures) }

        public init(name: String, kind: ModuleKind, inFeatures: Int, outFeatures: Int, rank: Int, binaryRank: Int,
                    scale: Double, errors: ModuleErrors, bytes: Int, signBits: Int, scaleBytes: Int,
                    plainProductError: Double, method: String) {
            self.name = name
            self.kind = kind
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
            self.rank = rank
            self.binaryRank = binaryRank
            self.scale = scale
            self.errors = errors
            self.bytes = bytes
            self.signBits = signBits
            self.scaleBytes = scaleBytes
            self.plainProductError = plainProductError
            self.method = method
            self.baselines = nil
        }
    }

    /// The input as the user named it (file or folder).
    public var input: String
    /// The weights file actually read.
    public var weightsPath: String
    /// The `.lba` written.
    public var output: String
    /// The input's layout.
    public var layout: AdapterLayout
    /// Per-module figures, in file order.
    public var modules: [Module]
    /// Number of tensors carried through unchanged.
    public var carriedTensors: Int
    /// Bytes those tensors occupy in the `.lba`.
    public var carriedBytes: Int
    /// Bytes those tensors would take in fp16 (float tensors halved or doubled to 2 bytes, others as stored).
    public var carriedFP16Bytes: Int
    /// Size of the input weights file.
    public var bytesIn: Int
    /// Size of the `.lba` file.
    public var bytesOut: Int
    /// Things the user should know (defaults assumed, tensors carried or dropped).
    public var notes: [String]
    /// Wall-clock seconds the conversion took.
    public var seconds: Double
    /// How the file was made: tool version, input hashes and options (set by the converter).
    public var provenance = Provenance()
    /// The whole report's summary, kept when a batch dropped its modules to hold little per input
    /// (``retainedRecord(keepingSummary:)``); nil while every module is here.
    public internal(set) var retainedSummary: Summary?

    /// What a report records about how its `.lba` was made, the same facts as the file's
    /// `lordba.*` metadata: enough to tell whether a rerun would make the same file.
    public struct Provenance: Sendable {
        /// The tool version that wrote the `.lba` (``ToolVersion/current``).
        public var toolVersion = ToolVersion.current
        /// SHA-256 (hex) of the weights file read.
        public var inputSHA256: String?
        /// The `adapter_config.json` read, and its SHA-256 (nil when the config came from the
        /// safetensors metadata or there was none).
        public var configPath: String?
        public var configSHA256: String?
        /// SHA-256 of the `--calibration` file, when one was used.
        public var calibrationSHA256: String?
        /// Every conversion option, by its command-line name (`scale_dtype` for `--scale-dtype`),
        /// defaults included.
        public var options: [(String, JSONValue)] = []

        public init() {}
    }

    public init(input: String, weightsPath: String, output: String, layout: AdapterLayout, modules: [Module],
                carriedTensors: Int, carriedBytes: Int, carriedFP16Bytes: Int, bytesIn: Int, bytesOut: Int,
                notes: [String], seconds: Double) {
        self.input = input
        self.weightsPath = weightsPath
        self.output = output
        self.layout = layout
        self.modules = modules
        self.carriedTensors = carriedTensors
        self.carriedBytes = carriedBytes
        self.carriedFP16Bytes = carriedFP16Bytes
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.notes = notes
        self.seconds = seconds
    }

    /// Totals and order statistics over the modules.
    public struct Summary: Sendable {
        public var modules: Int
        public var bytesIn: Int
        public var bytesOut: Int
        /// The same adapter in fp16 (factors and carried tensors) over the `.lba` size.
        public var ratioVsFP16: Double
        /// The input file size over the `.lba` size.
        public var ratioVsInput: Double
        public var productErrorMedian: Double
        public var productErrorMax: Double
        /// The modules with the largest product error, worst first (at most three).
        public var worst: [Module]
    }

    /// Medians over modules of the matched-size baselines (`nil` without `--compare`), with LoRDBA's
    /// own median first: `[("lordba", …), ("svd_truncation", …), …]`.
    public var baselineMedians: [(String, Double)]? {
        let all = modules.compactMap(\.baselines)
        guard !all.isEmpty, all.count == modules.count else { return nil }
        func median(_ v: [Double]) -> Double { Median.of(v)! }
        return [("lordba", summary.productErrorMedian),
                ("svd_truncation", median(all.map(\.svdTruncation))),
                ("sign_per_factor", median(all.map(\.signPerFactor))),
                ("sign_per_row", median(all.map(\.signPerRow))),
                ("two_bit_rowwise", median(all.map(\.twoBitRowwise)))]
    }

    /// The caveat every comparison is printed with.
    public static let proxyCaveat = "Frobenius error is only a proxy for task quality: an SVD truncation with a lower error can still lose on the task."

    /// The summary of this report.
    public var summary: Summary {
        if let retainedSummary { return retainedSummary }
        let fp16 = modules.reduce(0) { $0 + $1.fp16Bytes } + carriedFP16Bytes
        let errors = modules.map(\.errors.productError).sorted()
        let median = Median.of(errors) ?? 0
        let worst = modules.enumerated()
            .sorted { ($0.element.errors.productError, $1.offset) > ($1.element.errors.productError, $0.offset) }
            .prefix(3).map(\.element)
        return Summary(
            modules: modules.count, bytesIn: bytesIn, bytesOut: bytesOut,
            ratioVsFP16: bytesOut > 0 ? Double(fp16) / Double(bytesOut) : 0,
            ratioVsInput: bytesOut > 0 ? Double(bytesIn) / Double(bytesOut) : 0,
            productErrorMedian: median, productErrorMax: errors.last ?? 0, worst: Array(worst))
    }
}
