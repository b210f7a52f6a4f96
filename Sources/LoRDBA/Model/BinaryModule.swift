/// One module in LoRDBA form: two sign matrices and three scale vectors.
///
/// The effective factors (`effectiveFactors()`) are `Â = S_A·diag(a)` (`[k, in]`) and
/// `B̂ = diag(b)·S_Bᵀ·diag(m)` (`[out, k]`), so `ΔŴ = B̂·Â` approximates `s·B·A` with the LoRA
/// scale folded into `m`.
/// `signB` is stored rank-major, `[k, out]`, like `signA`, so both are long bit rows.
public struct BinaryModule: Sendable {
    /// The module path, as in the input.
    public var name: String
    /// The kind of layer adapted.
    public var kind: ModuleKind
    /// The original LoRA rank `r` (the binary rank `k` is `binaryRank`).
    public var loraRank: Int
    /// The original LoRA scale `s` (informational: it is already folded into `scales.middle`).
    public var loraScale: Double
    /// `S_A`, `[k, in]`.
    public var signA: SignMatrix
    /// `S_B` transposed, `[k, out]`.
    public var signB: SignMatrix
    /// `a`, `m`, `b`.
    public var scales: ChannelScales
    /// Where the module came from in the input file.
    public var source: LoRAModule.Source

    public init(name: String, kind: ModuleKind, loraRank: Int, loraScale: Double,
                signA: SignMatrix, signB: SignMatrix, scales: ChannelScales, source: LoRAModule.Source) {
        precondition(signA.rows == signB.rows, "sign matrices disagree on the binary rank")
        precondition(scales.middle.count == signA.rows, "middle scales do not match the binary rank")
        precondition(scales.output.count == signB.cols, "output scales do not match out")
        precondition(scales.input.map { $0.count == signA.cols } ?? true, "input scales do not match in")
        self.name = name
        self.kind = kind
        self.loraRank = loraRank
        self.loraScale = loraScale
        self.signA = signA
        self.signB = signB
        self.scales = scales
        self.source = source
    }

    /// The binary rank `k` (number of sign channels).
    public var binaryRank: Int { signA.rows }
    /// Input features.
    public var inFeatures: Int { signA.cols }
    /// Output features.
    public var outFeatures: Int { signB.cols }
}

/// A whole adapter in LoRDBA form, ready for the writer.
public struct BinaryAdapter: Sendable {
    /// The layout the source adapter was written in.
    public var layout: AdapterLayout
    /// Binary modules, in the reader's order (sorted by name).
    public var modules: [BinaryModule]
    /// Tensors carried through unchanged.
    public var carried: [CarriedTensor]
    /// Free-form string metadata (source metadata and conversion options).
    public var metadata: [String: String]
    /// The dtype the outer scales are stored in.
    public var scaleDType: ScaleDType

    public init(layout: AdapterLayout, modules: [BinaryModule], carried: [CarriedTensor],
                metadata: [String: String], scaleDType: ScaleDType = PipelineOptions().scaleDType) {
        self.layout = layout
        self.modules = modules
        self.carried = carried
        self.metadata = metadata
        self.scaleDType = scaleDType
    }
}
