/// The float factors a binary module stands for: `Â = S_A·diag(a)` and `B̂ = diag(b)·S_Bᵀ·diag(m)`,
/// so that `B̂·Â` is what the module adds (the LoRA scale is folded into `m`).
extension LowRankProduct {
    /// `Â` (`[k, in]`, all-ones `a` when `scales.input` is nil) and `B̂ᵀ = diag(m)·S_B·diag(b)`
    /// (`[k, out]`) from ±1 sign rows (`signA` `[k, in]`, `signB` `[k, out]`), scale 1.
    public init(signA: Matrix, signB: Matrix, scales: ChannelScales) {
        var a = signA
        if let input = scales.input {
            let n = a.cols
            a.values.withUnsafeMutableBufferPointer { p in
                for j in 0..<a.rows {
                    for i in 0..<n { p[j * n + i] *= input[i] }
                }
            }
        }
        var bTransposed = signB
        let n = bTransposed.cols
        bTransposed.values.withUnsafeMutableBufferPointer { p in
            for j in 0..<bTransposed.rows {
                let mj = scales.middle[j]
                for o in 0..<n { p[j * n + o] *= mj * scales.output[o] }
            }
        }
        self.init(a: a, bTransposed: bTransposed)
    }
}

extension BinaryModule {
    /// `B̂·Â`, the product this module stands for, expanded to floats (reporting, the dense
    /// reference, tests).
    public func effectiveFactors() -> LowRankProduct {
        LowRankProduct(signA: signA.dense(), signB: signB.dense(), scales: scales)
    }
}
