/// bfloat16 encode/decode on raw bits.
public enum BFloat16Bits {
    /// The `Float` a bfloat16 bit pattern denotes (exact).
    @inlinable
    public static func float(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bfloat16 bits nearest to `value` (round to nearest even; NaN stays NaN).
    public static func bits(_ value: Float) -> UInt16 {
        let raw = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: raw >> 16) | 0x40 }
        let roundingBias = 0x7FFF + ((raw >> 16) & 1)
        return UInt16(truncatingIfNeeded: (raw &+ roundingBias) >> 16)
    }
}

/// OCP 8-bit float E4M3 ("FN": no infinities, one NaN pattern per sign), the narrowest scale dtype.
///
/// 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits: largest value 448, smallest normal
/// 2⁻⁶, smallest subnormal 2⁻⁹. Encoding rounds to nearest (ties to even) and saturates at ±448.
public enum E4M3 {
    /// The value of every bit pattern (NaN for `0x7F` and `0xFF`).
    static let values: [Float] = (0...255).map { decodeSlow(UInt8($0)) }
    /// The 127 finite non-negative values in increasing order, with their codes.
    static let positive: [(value: Float, code: UInt8)] = (0...0x7E).map { (decodeSlow(UInt8($0)), UInt8($0)) }

    private static func decodeSlow(_ bits: UInt8) -> Float {
        let sign: Float = bits & 0x80 == 0 ? 1 : -1
        let exponent = Int((bits >> 3) & 0xF)
        let mantissa = Float(bits & 7)
        if exponent == 15 && bits & 7 == 7 { return .nan }
        if exponent == 0 { return sign * mantissa * 0x1p-9 }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }

    /// The value of `bits`.
    /// (Computed from the bits, equal to `values[bits]`: no lazy table on the hot path.)
    @inlinable
    public static func float(_ bits: UInt8) -> Float {
        let sign = UInt32(bits & 0x80) << 24
        let exponent = UInt32(bits >> 3) & 0xF, mantissa = UInt32(bits & 7)
        if exponent == 15 && mantissa == 7 { return .nan }
        if exponent == 0 {
            let subnormal = Float(mantissa) * 0x1p-9
            return sign == 0 ? subnormal : -subnormal
        }
        return Float(bitPattern: sign | (exponent + 120) << 23 | mantissa << 20)
    }

    /// The code nearest to `value` (ties to the even code), saturating to ±448; NaN maps to `0x7F`.
    ///
    /// Integer rounding on the bit pattern (no table, no search: this runs for every scale the
    /// binarizer, the limits check and the writer handle); `bitsBySearch` is the reference it
    /// matches bit for bit.
    @inlinable
    public static func bits(_ value: Float) -> UInt8 {
        let raw = value.bitPattern
        let magnitude = raw & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 { return 0x7F }                 // NaN
        let sign = UInt8(truncatingIfNeeded: raw >> 24) & 0x80
        if magnitude >= 0x43E0_0000 { return sign | 0x7E }         // ≥ 448 (and ∞): saturate
        if magnitude >= 0x3C80_0000 {                               // ≥ 2⁻⁶: normal, 3 mantissa bits
            let rounded = magnitude &+ 0x7FFFF &+ ((magnitude >> 20) & 1)   // to nearest, ties to even
            return sign | UInt8(truncatingIfNeeded: (rounded >> 20) &- (120 << 3))
        }
        // Subnormal (or 2⁻⁶ after rounding): multiples of 2⁻⁹, exact after scaling by 2⁹.
        let steps = (Float(bitPattern: magnitude) * 512).rounded(.toNearestOrEven)
        return sign | UInt8(steps)
    }

    /// The reference encoder: a binary search over the 127 finite non-negative values, nearest
    /// with ties to the even code (kept to test ``bits(_:)`` against).
    static func bitsBySearch(_ value: Float) -> UInt8 {
        if value.isNaN { return 0x7F }
        let sign: UInt8 = value.sign == .minus ? 0x80 : 0
        let magnitude = Swift.min(abs(value), 448)
        var low = 0, high = positive.count - 1
        while low < high {
            let mid = (low + high) / 2
            if positive[mid].value < magnitude { low = mid + 1 } else { high = mid }
        }
        var code = positive[low].code
        if low > 0 {
            let below = positive[low - 1], above = positive[low]
            let dBelow = magnitude - below.value, dAbove = above.value - magnitude
            if dBelow < dAbove || (dBelow == dAbove && below.code & 1 == 0) { code = below.code }
        }
        return sign | code
    }
}
