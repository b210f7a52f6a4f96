/// Bit-exact conversions for the 16-bit float formats safetensors uses.
///
/// Decoding goes through a 64 Ki-entry table built once, which is exact for every bit
/// pattern and avoids a library call per element on CPUs without F16C.
enum HalfFloatTable {
    /// `Float` value of every IEEE half bit pattern.
    static let f16ToFloat: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }
}

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

extension TensorDType {
    /// Decodes `count` little-endian elements of a float dtype starting at `bytes` into `out`.
    /// - Precondition: `isConvertibleFloat`.
    func decodeFloats(_ bytes: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(bytes.count >= count * bitWidth / 8 && out.count >= count)
        switch self {
        case .f16:
            HalfFloatTable.f16ToFloat.withUnsafeBufferPointer { table in
                for i in 0..<count {
                    let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                    out[i] = table[Int(bits)]
                }
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                out[i] = BFloat16Bits.float(bits)
            }
        case .f32:
            for i in 0..<count {
                out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
        case .f64:
            for i in 0..<count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
            }
        default:
            preconditionFailure("\(rawValue) is not a float dtype")
        }
    }
}
