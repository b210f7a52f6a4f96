#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Balancing a module's exported factors before they are cast to a narrow float type.
///
/// A `.lba` keeps its scales near the top of their (e4m3) range and puts the rest of ΔW's size in
/// `m`, so `A' = diag(m)·S_A·diag(a)` is tiny (about 1e-5 to 1e-7 on real adapters) while `B'` is
/// near 256: cast to f16, most of `A'` would fall into the subnormal range and lose its digits.
/// Each rank channel `j` of `A'` is multiplied by `2^e_j` and the same channel of `B'` by
/// `2^−e_j`, with `e_j` the power of two nearest the geometric mean of the two channels' largest
/// entries: ΔW is unchanged, and since the factors are powers of two the balancing itself is
/// exact (each entry keeps its significand).
extension DequantizedModule {
    /// The same ΔW with every rank channel's largest `A'` and `B'` entries within a factor of two
    /// of each other (``FactorBalance``).
    public func balanced() -> DequantizedModule {
        var copy = self
        let (n, k) = (inFeatures, rank)
        for j in 0..<k {
            var largestA: Float = 0
            for c in 0..<n { largestA = Swift.max(largestA, abs(a[j * n + c])) }
            var largestB: Float = 0
            for r in 0..<outFeatures { largestB = Swift.max(largestB, abs(b[r * k + j])) }
            let e = FactorBalance.exponent(largestA: largestA, largestB: largestB)
            guard e != 0 else { continue }
            let up = Float(sign: .plus, exponent: e, significand: 1)
            let down = Float(sign: .plus, exponent: -e, significand: 1)
            for c in 0..<n { copy.a[j * n + c] *= up }
            for r in 0..<outFeatures { copy.b[r * k + j] *= down }
        }
        return copy
    }
}

/// The power of two that balances one rank channel.
public enum FactorBalance {
    /// `e` with `2^e ≈ √(largestB / largestA)`: the channel's `A'` row is multiplied by `2^e` and
    /// its `B'` column by `2^−e`; 0 when either side is zero or not finite.
    public static func exponent(largestA: Float, largestB: Float) -> Int {
        guard largestA > 0, largestB > 0, largestA.isFinite, largestB.isFinite else { return 0 }
        return Int((log2(Double(largestB) / Double(largestA)) / 2).rounded())
    }
}
