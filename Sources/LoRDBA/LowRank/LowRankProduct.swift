/// A matrix held as a product of two thin factors, `scale · leftᵀ · right`, with `left` `[k, out]`
/// and `right` `[k, in]` stored rank-major (one long row per rank channel).
///
/// This is how every adapter, binary or not, is compared: norms and inner products of two such
/// products reduce to `k × k'` Gram matrices of their rows (`O((in + out)·k·k')`).
public struct LowRankProduct: Sendable {
    /// `[k, out]`: the columns of the left factor, as rows.
    public var left: Matrix
    /// `[k, in]`.
    public var right: Matrix
    /// A scalar applied to the whole product.
    public var scale: Double

    public init(left: Matrix, right: Matrix, scale: Double = 1) {
        precondition(left.rows == right.rows, "low-rank factors disagree on the rank")
        self.left = left
        self.right = right
        self.scale = scale
    }

    /// A LoRA module's `s·B·A`.
    public init(_ module: LoRAModule) {
        self.init(left: module.b.transposed(), right: module.a, scale: module.scale)
    }

    /// `‖scale·leftᵀ·right‖_F`.
    public var norm: Double {
        let value = scale * scale * SmallLinearAlgebra.frobeniusInner(SmallLinearAlgebra.gram(left), SmallLinearAlgebra.gram(right))
        return Swift.max(value, 0).squareRoot()
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
        let xx = x.scale * x.scale * SmallLinearAlgebra.frobeniusInner(SmallLinearAlgebra.gram(x.left), SmallLinearAlgebra.gram(x.right))
        let yy = y.scale * y.scale * SmallLinearAlgebra.frobeniusInner(SmallLinearAlgebra.gram(y.left), SmallLinearAlgebra.gram(y.right))
        let xy = x.scale * y.scale * SmallLinearAlgebra.frobeniusInner(
            SmallLinearAlgebra.rowDots(x.left, y.left), SmallLinearAlgebra.rowDots(x.right, y.right))
        return comparison(xx: xx, yy: yy, xy: xy)
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
