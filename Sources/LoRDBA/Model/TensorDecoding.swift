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
