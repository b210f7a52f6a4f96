/// Settings of a validation run (`lordba-validate`).
public struct ValidationOptions: Sendable {
    /// Seeded Gaussian input rows per module for the correctness and fidelity checks.
    public var tokens = 512
    /// Seed of the inputs.
    public var seed: UInt64 = PipelineOptions.defaultSeed
    /// Threads for the kernels (and for OpenBLAS while timing).
    public var threads = ProcessInfoCores.count
    /// The original LoRA (safetensors file or adapter folder) for the fidelity check.
    public var referencePath: String?
    /// The base model's weights (a `.safetensors` file or a folder of them): with
    /// `referencePath`, DoRA modules are checked as whole DoRA layers (``DoRAValidation``).
    public var basePath: String?
    /// Largest fidelity error a module may have (requires `referencePath`).
    public var maxError: Double?
    /// Largest relative difference between the sign kernel and the dense reference.
    public var tolerance = 1e-5
    /// Whether to time the sign path, the dense branch and the base GEMM.
    public var timing = true
    /// Token counts timed.
    public var timingTokens = [1, 512]
    /// Samples per timing (the median is reported).
    public var timingSamples = 5
    /// Minimum seconds per timing sample.
    public var timingMinimumSeconds = 0.01
    /// Most working memory one module's checks may need, in bytes (1 GiB): a module whose
    /// inputs, outputs and expanded factors would need more is refused before allocating.
    public var memoryLimit = 1 << 30

    public init() {}
}
