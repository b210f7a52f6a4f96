/// The channel-wise magnitudes of a binary module: `ΔW·x ≈ b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ x))`.
///
/// `input` (a, one per input feature) and `output` (b, one per output feature) are stored
/// in a compact dtype (fp16 by default) and normalised to a largest magnitude of 1 so that
/// dtype never overflows or underflows; `middle` (m, one per sign channel) carries every
/// remaining factor, the LoRA scale included, and is stored as fp32.
public struct ChannelScales: Sendable, Equatable {
    /// `a`, length `in`; `nil` for compact scales (all ones).
    public var input: [Float]?
    /// `m`, length `k` (the binary rank).
    public var middle: [Float]
    /// `b`, length `out`.
    public var output: [Float]

    public init(input: [Float]?, middle: [Float], output: [Float]) {
        self.input = input
        self.middle = middle
        self.output = output
    }
}

/// The storage type of the outer scale vectors `a` and `b`.
public enum ScaleDType: String, Sendable, CaseIterable {
    /// IEEE half precision (the default).
    case f16
    /// bfloat16.
    case bf16
    /// fp32, lossless.
    case f32
    /// OCP fp8 E4M3 (one byte; 3 mantissa bits). Values are normalised to a peak of 256, not 1,
    /// so the small end of a channel profile stays above the format's smallest subnormal.
    case e4m3

    /// Bytes per stored value.
    public var byteWidth: Int {
        switch self {
        case .e4m3: 1
        case .f16, .bf16: 2
        case .f32: 4
        }
    }

    /// The largest value a normalised scale vector is given in this dtype (a power of two).
    public var normalisedPeak: Float {
        switch self {
        case .e4m3: 256
        case .f16, .bf16, .f32: 1
        }
    }

    /// `value` rounded to what this dtype stores (round to nearest even).
    public func rounded(_ value: Float) -> Float {
        switch self {
        case .f16: Float(Float16(value))
        case .bf16: BFloat16Bits.float(BFloat16Bits.bits(value))
        case .f32: value
        case .e4m3: E4M3.float(E4M3.bits(value))
        }
    }
}
