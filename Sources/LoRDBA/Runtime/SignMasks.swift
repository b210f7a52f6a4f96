/// The bit tricks the sign kernel is built from.
///
/// A sign bit from a `.lba` file (1 = −1) is applied to a float by XOR-ing it into the float's
/// sign bit (bit 31 of its IEEE pattern). Eight packed sign bits — one byte of a sign row,
/// covering eight consecutive columns — become an eight-lane XOR mask with one load from a
/// 256-entry table, which needs no per-lane variable shifts (those scalarize unless the
/// build targets AVX2; see `formats/kernel.md`).
enum SignMasks {
    /// Eight 32-bit lanes of XOR masks.
    typealias Mask = SIMD8<UInt32>

    /// `table[b]` has lane `l` equal to `0x8000_0000` when bit `l` of `b` is set, else 0.
    /// 256 × 32 bytes = 8 KiB, 64-byte aligned, allocated once and never freed.
    nonisolated(unsafe) static let table: UnsafePointer<Mask> = {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 256 * MemoryLayout<Mask>.stride, alignment: 64)
        let masks = raw.bindMemory(to: Mask.self, capacity: 256)
        for byte in 0..<256 {
            var lanes = Mask(repeating: 0)
            for lane in 0..<8 where (byte >> lane) & 1 == 1 { lanes[lane] = 0x8000_0000 }
            masks[byte] = lanes
        }
        return UnsafePointer(masks)
    }()

    /// Eight IEEE half-precision bit patterns converted to `Float`, exactly (subnormals and
    /// infinities included; NaNs keep their payload and come out quiet, as `Float(Float16)`
    /// and the F16C instruction give them), with integer SIMD operations that need no F16C.
    ///
    /// The exponent and mantissa bits are shifted into place and the result multiplied by
    /// 2¹¹² to rebias the exponent (subnormal halves become subnormal floats, and the
    /// multiplication makes them normal, exactly); all-ones exponents are forced back to 255.
    @inline(__always)
    static func floats(fromHalfBits half: SIMD8<UInt16>) -> SIMD8<Float> {
        let w = SIMD8<UInt32>(truncatingIfNeeded: half)
        let sign = (w & 0x8000) &<< 16
        let magnitude = w & 0x7FFF
        let rebased = unsafeBitCast(magnitude &<< 13, to: SIMD8<Float>.self) * 0x1p112
        // magnitude ≥ 0x7C00 (infinity or NaN) exactly when adding 0x400 carries into bit 15.
        let zero = SIMD8<UInt32>(repeating: 0)
        let special = (zero &- ((magnitude &+ 0x0400) &>> 15)) & 0x7F80_0000
        // magnitude > 0x7C00 (NaN) exactly when adding 0x3FF carries into bit 15: set the quiet bit.
        let quiet = (zero &- ((magnitude &+ 0x03FF) &>> 15)) & 0x0040_0000
        return unsafeBitCast(unsafeBitCast(rebased, to: SIMD8<UInt32>.self) | special | quiet | sign, to: SIMD8<Float>.self)
    }
}
