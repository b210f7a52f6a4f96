/// A matrix held as a product of two thin factors, `scale · B·A`, with `A` `[k, in]` and `B`
/// `[out, k]` stored rank-major as `Bᵀ` `[k, out]` (one long row per rank channel, like `A`).
///
/// Every product the pipeline handles is one of these: a LoRA module's `s·B·A`, the refinement
/// target, a binary module's effective factors `B̂·Â`, a residual, the dense reference, a
/// baseline. Norms and inner products of two such products reduce to `k × k'` Gram matrices of
/// their rows (`O((in + out)·k·k')`); nothing `out × in` is formed.
public struct LowRankProduct: Sendable {
    /// `A`, `[k, in]`.
    public var a: Matrix
    /// `Bᵀ`, `[k, out]`: the columns of `B`, as rows.
    public var bTransposed: Matrix
    /// A scalar applied to the whole product.
    public var scale: Double

    public init(a: Matrix, bTransposed: Matrix, scale: Double = 1) {
        precondition(a.rows == bTransposed.rows, "low-rank factors disagree on the rank")
        self.a = a
        self.bTransposed = bTransposed
        self.scale = scale
    }

    /// A LoRA module's `s·B·A`.
    public init(_ module: LoRAModule) {
        self.init(a: module.a, bTransposed: module.b.transposed(), scale: module.scale)
    }

    /// `B`, `[out, k]` (a transposed copy: for reporting and tests; the pipeline works on `Bᵀ`).
    public var b: Matrix { bTransposed.transposed() }
    /// `k`, the number of rank channels.
    public var rank: Int { a.rows }
    /// Input features.
    public var inFeatures: Int { a.cols }
    /// Output features.
    public var outFeatures: Int { bTransposed.cols }

    /// The same product with the scale folded into `Bᵀ` (in `Float`, as a forward pass applies
    /// it) and `scale` 1.
    public func foldingScale() -> LowRankProduct {
        var folded = bTransposed
        let s = Float(scale)
        for i in folded.values.indices { folded.values[i] *= s }
        return LowRankProduct(a: a, bTransposed: folded)
    }

    /// `‖scale·B·A‖²_F`.
    public var normSquared: Double {
        scale * scale * SmallLinearAlgebra.frobeniusInner(SmallLinearAlgebra.gram(bTransposed), SmallLinearAlgebra.gram(a))
    }

    /// `‖scale·B·A‖_F`.
    public var norm: Double { Swift.max(normSquared, 0).squareRoot() }

    /// `X − Y` for two products of scale 1, as the stacked factors `[Bᵀ_X; −Bᵀ_Y]ᵀ·[A_X; A_Y]`.
    public static func difference(_ x: LowRankProduct, _ y: LowRankProduct) -> LowRankProduct {
        precondition(x.scale == 1 && y.scale == 1, "fold the scales before subtracting products")
        return LowRankProduct(a: x.a.stacking(y.a), bTransposed: x.bTransposed.stacking(y.bTransposed, negated: true))
    }

    /// `other`'s channels stacked under these (both scales must agree): the sum of the two products.
    public func appendingChannels(of other: LowRankProduct) -> LowRankProduct {
        precondition(scale == other.scale, "stacked products must share their scale")
        return LowRankProduct(a: a.stacking(other.a), bTransposed: bTransposed.stacking(other.bTransposed), scale: scale)
    }

    /// How an approximation compares with a reference.
    public struct Comparison: Sendable, Equatable {
        /// `‖X − Y‖_F / ‖X‖_F` (0 when both are zero, 1 when only `X` is).
        public var relativeError: Double
        /// `⟨X, Y⟩ / (‖X‖·‖Y‖)`.
        public var cosine: Double
        public var referenceNorm: Double
        public var approximationNorm: Double
    }

    /// Compares `approximation` (Y) with `reference` (X) exactly, from Gram matrices.
    public static func compare(reference x: LowRankProduct, approximation y: LowRankProduct) -> Comparison {
        let xy = x.scale * y.scale * SmallLinearAlgebra.frobeniusInner(
            SmallLinearAlgebra.rowDots(x.bTransposed, y.bTransposed), SmallLinearAlgebra.rowDots(x.a, y.a))
        return comparison(xx: x.normSquared, yy: y.normSquared, xy: xy)
    }

    /// The comparison from `‖X‖²`, `‖Y‖²` and `⟨X, Y⟩`.
    static func comparison(xx: Double, yy: Double, xy: Double) -> Comparison {
        let xNorm = Swift.max(xx, 0).squareRoot()
        let yNorm = Swift.max(yy, 0).squareRoot()
        let difference = Swift.max(xx - 2 * xy + yy, 0).squareRoot()
        let cosine = xNorm > 0 && yNorm > 0 ? Swift.min(1, Swift.max(-1, xy / (xNorm * yNorm)))
            : (xNorm == 0 && yNorm == 0 ? 1 : 0)
        return Comparison(relativeError: LowRankProduct.relative(difference, xNorm, other: yNorm), cosine: cosine,
                          referenceNorm: xNorm, approximationNorm: yNorm)
    }

    /// `value / reference`, with 0/0 = 0 and x/0 = 1 (everything lost) for a zero reference.
    static func relative(_ value: Double, _ reference: Double, other: Double) -> Double {
        if reference > 0 { return value / reference }
        return value == 0 && other == 0 ? 0 : 1
    }
}

extension Matrix {
    /// This matrix's rows followed by `other`'s (negated when asked), for stacking rank channels.
    func stacking(_ other: Matrix, negated: Bool = false) -> Matrix {
        precondition(cols == other.cols, "stacked rows must have one length")
        return Matrix(rows: rows + other.rows, cols: cols, values: values + (negated ? other.values.map { -$0 } : other.values))
    }
}
