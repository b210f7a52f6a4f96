import CLoRDBAKernels

extension TensorDType {
    /// Decodes `count` little-endian elements of a float dtype starting at `bytes` into `out`.
    /// - Precondition: `isConvertibleFloat`.
    func decodeFloats(_ bytes: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(bytes.count >= count * bitWidth / 8 && out.count >= count)
        switch self {
        case .f16:
            // Vectorised and exact for every bit pattern: F16C on the AVX2 path, bit arithmetic otherwise.
            guard count > 0 else { return }
            lordba_decode_f16(bytes.baseAddress, out.baseAddress, count)
        case .bf16:
            guard count > 0 else { return }
            lordba_decode_bf16(bytes.baseAddress, out.baseAddress, count)
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
