/// What kind of layer a LoRA module adapts; it decides how a runtime applies the product.
public enum ModuleKind: Sendable, Equatable, Hashable {
    /// A linear layer: `y += ΔW·x` with `ΔW = s·B·A`.
    case linear
    /// An embedding: the delta table is `(s·B·A)ᵀ`, rows gathered by token id.
    case embedding
    /// A convolution whose down-projection `A` was flattened from `[r, in, k…]` to `[r, in·∏k]`;
    /// `kernel` keeps the spatial kernel shape so a runtime can unflatten it.
    case conv(kernel: [Int])

    /// The name used in files and reports: `linear`, `embedding` or `conv`.
    public var name: String {
        switch self {
        case .linear: "linear"
        case .embedding: "embedding"
        case .conv: "conv"
        }
    }
}

/// The training library whose naming and orientation conventions an adapter file follows.
public enum AdapterLayout: String, Sendable, Equatable, CaseIterable {
    /// Hugging Face PEFT: `….lora_A.weight` `[r,in]`, `….lora_B.weight` `[out,r]`.
    case peft
    /// MLX-LM: `….lora_a` `[in,r]`, `….lora_b` `[r,out]`, one global scale.
    case mlx
    /// kohya sd-scripts: `….lora_down.weight`, `….lora_up.weight`, scalar `….alpha`.
    case kohya
    /// diffusers pipelines' `save_lora_weights`: PEFT-style factors under a component prefix
    /// (`unet.`, `transformer.`, `text_encoder.`, …) with each component's LoRA config in the
    /// safetensors metadata, or the older `….lora.down/up.weight` forms with `….alpha` tensors.
    /// Written as format 1.1 (see `formats/lba.md`).
    case diffusers
}

/// One LoRA module in the normalised internal form: `ΔW = scale · B · A`.
///
/// Every input layout is transposed and renamed into this form by the reader,
/// so later stages never see layout differences.
public struct LoRAModule: Sendable {
    /// The module path, e.g. `base_model.model.model.layers.0.self_attn.q_proj`.
    public var name: String
    /// The kind of layer adapted.
    public var kind: ModuleKind
    /// The down-projection, shape `[r, in]`.
    public var a: Matrix
    /// The up-projection, shape `[out, r]`.
    public var b: Matrix
    /// The effective LoRA scale `s` (alpha/r, alpha/√r, MLX `scale`, …).
    public var scale: Double
    /// Where the module came from in the input file.
    public var source: Source

    /// The names and storage type of the module's tensors in the input file.
    public struct Source: Sendable, Equatable {
        /// Name of the tensor that became `A`.
        public var aTensor: String
        /// Name of the tensor that became `B`.
        public var bTensor: String
        /// Name of the tensor holding kohya's `alpha`, if any.
        public var alphaTensor: String?
        /// The stored dtype of the factors (`F16`, `BF16`, `F32`, `F64`).
        public var dtype: TensorDType

        public init(aTensor: String, bTensor: String, alphaTensor: String? = nil, dtype: TensorDType) {
            self.aTensor = aTensor
            self.bTensor = bTensor
            self.alphaTensor = alphaTensor
            self.dtype = dtype
        }
    }

    public init(name: String, kind: ModuleKind = .linear, a: Matrix, b: Matrix, scale: Double, source: Source) {
        precondition(a.rows == b.cols, "LoRA rank mismatch between A and B")
        self.name = name
        self.kind = kind
        self.a = a
        self.b = b
        self.scale = scale
        self.source = source
    }

    /// The LoRA rank `r`.
    public var rank: Int { a.rows }
    /// Input features (`A`'s columns; for conv, `in·∏kernel`).
    public var inFeatures: Int { a.cols }
    /// Output features (`B`'s rows).
    public var outFeatures: Int { b.rows }

    /// The first `rank` channels: rows of `A` and columns of `B` (for factors ordered by
    /// importance, such as the balanced factorization's, the best rank-`rank` part).
    public func truncated(toRank rank: Int) -> LoRAModule {
        precondition(rank >= 1 && rank <= self.rank, "truncation rank out of range")
        let a = Matrix(rows: rank, cols: inFeatures, values: Array(self.a.values.prefix(rank * inFeatures)))
        var b = Matrix(rows: outFeatures, cols: rank)
        for o in 0..<outFeatures { for j in 0..<rank { b[o, j] = self.b[o, j] } }
        return LoRAModule(name: name, kind: kind, a: a, b: b, scale: scale, source: source)
    }
}

/// A tensor of the input that is not part of a LoRA pair (DoRA magnitudes, `modules_to_save`
/// weights, biases); it is carried into the `.lba` unchanged so the converted adapter still works.
public struct CarriedTensor: Sendable, Equatable {
    public var name: String
    public var dtype: TensorDType
    public var shape: [Int]
    /// The little-endian bytes exactly as stored in the input.
    public var bytes: [UInt8]
    /// What the tensor is for; `nil` when not recorded (files of format 1.0).
    public var role: CarriedRole?

    public init(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8], role: CarriedRole? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.role = role
    }
}

/// A whole LoRA adapter in the internal form, as the reader produces it.
public struct LoRAAdapter: Sendable {
    /// The layout the input file was written in.
    public var layout: AdapterLayout
    /// The LoRA modules, sorted by name.
    public var modules: [LoRAModule]
    /// Tensors carried through unchanged, sorted by name.
    public var carried: [CarriedTensor]
    /// The safetensors `__metadata__` map of the input (empty when absent).
    public var metadata: [String: String]
    /// Size of the input weights file in bytes.
    public var inputBytes: Int

    public init(layout: AdapterLayout, modules: [LoRAModule], carried: [CarriedTensor] = [],
                metadata: [String: String] = [:], inputBytes: Int = 0) {
        self.layout = layout
        self.modules = modules
        self.carried = carried
        self.metadata = metadata
        self.inputBytes = inputBytes
    }
}
