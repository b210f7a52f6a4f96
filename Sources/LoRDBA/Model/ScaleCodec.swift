import CLoRDBAKernels

/// The scale codec: how a ``ScaleDType`` stores scale values (little-endian bytes, round to
/// nearest even, E4M3 saturating) and reads them back. The writer, the reader and the
/// binarizer's rounding all go through these, so the bits are decided in one place.
extension ScaleDType {
    /// The stored bytes of `values`, little-endian (f16 and E4M3 by C kernels where one exists;
    /// the same codes as ``rounded(_:)`` either way).
    public func encode(_ values: [Float]) -> [UInt8] {
        if self == .e4m3 {   // the default dtype: one C pass (the same codes as E4M3.bits)
            return [UInt8](unsafeUninitializedCapacity: values.count) { buffer, initialized in
                values.withUnsafeBufferPointer { lordba_encode_e4m3($0.baseAddress, buffer.baseAddress, $0.count) }
                initialized = values.count
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(values.count * byteWidth)
        switch self {
        case .f16: for v in values { out.appendLE(Float16(v).bitPattern) }
        case .bf16: for v in values { out.appendLE(BFloat16Bits.bits(v)) }
        case .f32: for v in values { out.appendLE(v.bitPattern) }
        case .e4m3: for v in values { out.append(E4M3.bits(v)) }
        }
        return out
    }

    /// The values stored in `bytes` (``byteWidth`` bytes each; a partial value at the end is ignored).
    public func decode(_ bytes: [UInt8]) -> [Float] {
        let count = bytes.count / byteWidth
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBytes { raw in
                switch self {
                case .f16:
                    TensorDType.f16.decodeFloats(raw, count: count, into: out)
                case .bf16:
                    TensorDType.bf16.decodeFloats(raw, count: count, into: out)
                case .f32:
                    for i in 0..<count { out[i] = Float(bitPattern: raw.loadLE(UInt32.self, at: i * 4)) }
                case .e4m3:
                    for i in 0..<count { out[i] = E4M3.float(raw[i]) }
                }
            }
            initialized = count
        }
    }

    /// `values` each rounded to what this dtype stores, after dividing by `divisor` (f16 and
    /// E4M3 by C kernels: F16C where the CPU has it, integer lanes for E4M3; the same bits as
    /// ``rounded(_:)`` either way).
    public func rounded(_ values: [Float], dividedBy divisor: Float) -> [Float] {
        let kernel: (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int, Float) -> Void
        switch self {
        case .f16: kernel = lordba_round_f16
        case .e4m3: kernel = lordba_round_e4m3
        case .bf16, .f32: return values.map { rounded($0 / divisor) }
        }
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in kernel(src.baseAddress, dst.baseAddress, src.count, divisor) }
        }
        return out
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
