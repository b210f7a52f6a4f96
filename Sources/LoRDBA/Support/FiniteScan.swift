/// Finds the first non-finite value (NaN or ±∞) of a `Float` array, 16 lanes at a time: an
/// exponent of all ones is the one test for both. Every decoded input tensor goes through it,
/// so it runs at memory speed rather than one comparison per element.
public enum FiniteScan {
    /// The index of the first NaN or ±∞ in `values`, or `nil` when all are finite.
    public static func firstNonFinite(_ values: [Float]) -> Int? {
        values.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            let raw = UnsafeRawPointer(base)
            let exponent = SIMD16<UInt32>(repeating: 0x7F80_0000)
            var i = 0
            while i + 16 <= buffer.count {
                let bits = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<UInt32>.self) & exponent
                if any(bits .== exponent) { break }
                i &+= 16
            }
            while i < buffer.count {
                if !buffer[i].isFinite { return i }
                i &+= 1
            }
            return nil
        }
    }
}
