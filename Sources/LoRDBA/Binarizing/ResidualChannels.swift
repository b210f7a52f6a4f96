/// Extra sign channels for what a binary product leaves over: with the shared scales `a` and
/// `b` removed, the top singular directions of the residual `diag(1/b)·R·diag(1/a)`, each
/// replaced by the best scalar times the outer product of their signs. They are stacked under
/// a module's channels when more sign channels than the LoRA rank are asked for.
public struct ResidualChannels: Sendable {
    /// `±1` rows over the input, `[n, in]`.
    public var signA: Matrix
    /// `±1` rows over the output, `[n, out]` (rank-major, like `BinaryModule.signB`).
    public var signB: Matrix
    /// One `m` per channel.
    public var middle: [Float]

    /// Up to `count` channels for `residual` (scale 1) under the input scale `inputScale` (`a`,
    /// length `in`) and the output scale `outputScale` (`b`, length `out`); nil when `count` is 0.
    public init?(residual: LowRankProduct, inputScale: [Float], outputScale: [Float], count: Int) {
        var scaled = residual
        SmallLinearAlgebra.scaleColumns(&scaled.bTransposed, by: outputScale.map { $0 != 0 ? 1 / $0 : 0 })
        SmallLinearAlgebra.scaleColumns(&scaled.a, by: inputScale.map { $0 != 0 ? 1 / $0 : 0 })
        let balanced = LowRankSVD.balanced(scaled)            // channels in descending singular value
        let n = Swift.min(count, balanced.rank)
        guard n > 0 else { return nil }
        let top = balanced.truncated(toRank: n)
        let inN = top.inFeatures, outN = top.outFeatures
        signA = Matrix(rows: n, cols: inN, values: top.a.values.map { $0 < 0 ? -1 : 1 })
        signB = Matrix(rows: n, cols: outN, values: top.bTransposed.values.map { $0 < 0 ? -1 : 1 })
        // Best scalar for σ·u·vᵀ ≈ μ·sign(u)·sign(v)ᵀ: μ = ‖√σu‖₁·‖√σv‖₁ / (out·in).
        middle = (0..<n).map { j -> Float in
            var l1a: Float = 0, l1b: Float = 0
            for i in 0..<inN { l1a += abs(top.a.values[j * inN + i]) }
            for o in 0..<outN { l1b += abs(top.bTransposed.values[j * outN + o]) }
            return l1a * l1b / Float(inN * outN)
        }
    }
}
