/// What the validator measured for one module.
public struct ModuleValidation: Sendable, Equatable {
    public var name: String
    public var kind: ModuleKind
    public var inFeatures: Int
    public var outFeatures: Int
    /// The original LoRA rank `r`.
    public var rank: Int
    /// The binary rank `k`.
    public var binaryRank: Int
    /// `‖Y_sign − Y_dense‖_F/‖Y_dense‖_F` on Float32 inputs: the sign kernel against the dense
    /// reference (`Â`, `B̂` expanded to Float32) on the same inputs.
    public var kernelDifference: Double
    /// The same on the inputs rounded to Float16 (the kernel's Float16 entry point).
    public var kernelDifferenceHalf: Double
    /// `‖Y_lba − Y_lora‖_F/‖Y_lora‖_F`: the sign kernel against the original LoRA (with a reference).
    public var fidelity: Double?
    /// The report's exact product error `‖sBA − B̂Â‖_F/‖sBA‖_F` (with a reference); on isotropic
    /// inputs the fidelity's expectation (in the mean-square sense) equals it.
    public var productError: Double?
    /// `‖Y_lba − Y_lora‖_F²` and `‖Y_lora‖_F²`, for the adapter-wide figure.
    public var errorEnergy: Double?
    public var referenceEnergy: Double?
    /// For a DoRA module checked against a reference: what was checked (`fidelity` is then of
    /// the DoRA layer's effect when the base weights were given, else of `ΔW·x`).
    public var dora: DoRAValidation?
    /// What left the Float32 range in this module's checks (one phrase), or nil: the kernel
    /// is then not judged (``ValidationStatus/floatOverflow(modules:)``), since its result and
    /// the dense reference's both hold infinities or rounding of values beyond the range.
    public var overflow: String?

    /// The larger of the two kernel differences (NaN when either is NaN).
    public var kernelDifferenceMax: Double {
        kernelDifference.isNaN || kernelDifferenceHalf.isNaN ? .nan : Swift.max(kernelDifference, kernelDifferenceHalf)
    }

    public init(name: String, kind: ModuleKind, inFeatures: Int, outFeatures: Int, rank: Int, binaryRank: Int,
                kernelDifference: Double, kernelDifferenceHalf: Double, fidelity: Double? = nil,
                productError: Double? = nil, errorEnergy: Double? = nil, referenceEnergy: Double? = nil) {
        self.name = name
        self.kind = kind
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.binaryRank = binaryRank
        self.kernelDifference = kernelDifference
        self.kernelDifferenceHalf = kernelDifferenceHalf
        self.fidelity = fidelity
        self.productError = productError
        self.errorEnergy = errorEnergy
        self.referenceEnergy = referenceEnergy
    }
}

/// Timings of one module shape (every module of the shape runs the same code).
public struct ShapeTiming: Sendable, Equatable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var rank: Int
    public var binaryRank: Int
    /// How many modules of the adapter have this shape.
    public var modules: Int
    public var points: [TimingPoint]
    /// The rank the dense branch was timed at: `rank`, at most `min(in, out)` (the file's
    /// `rank` is informational and sizes nothing beyond the module's shape).
    public var denseRank: Int

    public init(inFeatures: Int, outFeatures: Int, rank: Int, binaryRank: Int, modules: Int, points: [TimingPoint],
                denseRank: Int? = nil) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.binaryRank = binaryRank
        self.modules = modules
        self.points = points
        self.denseRank = denseRank ?? rank
    }
}

/// A module shape that was not timed because its timing buffers (the base layer's `in × out`
/// weights above all) would need more than ``ValidationOptions/memoryLimit``.
public struct UntimedShape: Sendable, Equatable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var rank: Int
    public var binaryRank: Int
    /// How many modules of the adapter have this shape.
    public var modules: Int
    /// The bytes its timing would have held at once.
    public var bytes: Double
}

/// Median seconds per call at one token count.
public struct TimingPoint: Sendable, Equatable {
    public var tokens: Int
    /// The sign path (``SignGEMM``).
    public var signSeconds: Double
    /// The dense Float32 LoRA branch (`x·Aᵀ`, then `·Bᵀ`) at rank `r`.
    public var denseSeconds: Double
    /// What computed the dense branch: `"openblas"` or `"swift"` (our dense reference, when
    /// OpenBLAS is not installed).
    public var denseBackend: String
    /// The base layer's own GEMM (`T×in · in×out`, Float32, OpenBLAS); nil without OpenBLAS.
    public var baseSeconds: Double?

    public init(tokens: Int, signSeconds: Double, denseSeconds: Double, denseBackend: String, baseSeconds: Double?) {
        self.tokens = tokens
        self.signSeconds = signSeconds
        self.denseSeconds = denseSeconds
        self.denseBackend = denseBackend
        self.baseSeconds = baseSeconds
    }

    /// Sign path time over dense branch time.
    public var signOverDense: Double { signSeconds / denseSeconds }
    /// Sign path time over the base GEMM's: the adapter's overhead on the layer.
    public var overhead: Double? { baseSeconds.map { signSeconds / $0 } }
}
