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

    /// The largest finite value this dtype stores.
    public var largestFinite: Float {
        switch self {
        case .f16: Float(Float16.greatestFiniteMagnitude)
        case .bf16: Float(bitPattern: 0x7F7F_0000)
        case .f32: .greatestFiniteMagnitude
        case .e4m3: 448
        }
    }

    /// Whether `value` stays finite once rounded to this dtype: `rounded(value).isFinite`, with
    /// the common case (a magnitude within the dtype's range, which rounds to at most its
    /// largest value) decided without rounding.
    public func storesFinite(_ value: Float) -> Bool {
        abs(value) <= largestFinite || rounded(value).isFinite
    }

    /// The first of `values` that this dtype cannot store finitely (``storesFinite(_:)``), or nil;
    /// one branch-free pass decides the common case (every magnitude within the dtype's range).
    public func firstNotStoredFinite(_ values: [Float]) -> Float? {
        let limit = largestFinite
        let outside = values.withUnsafeBufferPointer { buffer in
            buffer.reduce(0) { count, v in count &+ (abs(v) <= limit ? 0 : 1) }   // NaN counts as outside
        }
        return outside == 0 ? nil : values.first { !storesFinite($0) }
    }
}
