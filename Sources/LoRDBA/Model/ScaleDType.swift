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
