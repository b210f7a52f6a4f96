import CLoRDBAKernels

/// The best non-negative rank-1 approximation `u·vᵀ` of the magnitudes `|M|` of a factor.
///
/// Because multiplying by ±1 preserves norms, `‖M − sign(M) ⊙ u·vᵀ‖_F = ‖ |M| − u·vᵀ ‖_F`
/// exactly, so this fit is also the best sign-times-rank-1 approximation of `M`. The top
/// singular pair of a non-negative matrix is non-negative (Perron–Frobenius), so `u, v ≥ 0`.
public struct MagnitudeFit: Sendable, Equatable {
    /// `u`, one value per row of the fitted matrix.
    public var rowScale: [Float]
    /// `v`, one value per column.
    public var columnScale: [Float]
    /// `σ₁(|M|) = ‖u·vᵀ‖_F`.
    public var magnitudeNorm: Double
    /// `‖ |M| − u·vᵀ ‖_F`, measured directly.
    public var residualNorm: Double
    /// `‖M‖_F`.
    public var norm: Double

    /// The residual-to-magnitude ratio `ρ = ‖ |M| − u·vᵀ ‖_F / ‖u·vᵀ‖_F` (0 for a zero matrix).
    public var residualRatio: Double { magnitudeNorm > 0 ? residualNorm / magnitudeNorm : 0 }
    /// The relative factor error `ε = ‖M − M̂‖_F / ‖M‖_F`, equal to `ρ/√(1+ρ²)` for this optimal fit.
    public var relativeError: Double { norm > 0 ? residualNorm / norm : 0 }

    /// Fits `|x|` for a matrix whose rows are few (a rank) and columns many.
    ///
    /// Works on the `rows × rows` Gram matrix of `|x|`: its top eigenvector is `u` (unit
    /// length, scaled by `√σ₁`), and `v = |x|ᵀ·u / √σ₁`. Cost `O(rows²·cols)`.
    public static func fit(_ x: Matrix) -> MagnitudeFit {
        let p = x.rows
        let n = x.cols
        // |x| is never formed: the kernels take absolute values as they load.
        let gram = SmallLinearAlgebra.gramOfMagnitudes(x)
        let norm = (0..<p).reduce(0.0) { $0 + gram[$1 * p + $1] }.squareRoot()
        guard p > 0, n > 0, norm > 0 else {
            return MagnitudeFit(rowScale: [Float](repeating: 0, count: p), columnScale: [Float](repeating: 0, count: n),
                                magnitudeNorm: 0, residualNorm: 0, norm: 0)
        }
        let (values, vectors) = SmallLinearAlgebra.symmetricEigen(gram, n: p)
        let sigma = Swift.max(values[0], 0).squareRoot()
        var u = (0..<p).map { vectors[$0 * p] }
        if u.reduce(0, +) < 0 { u = u.map { -$0 } }
        u = u.map { Swift.max($0, 0) }
        let root = sigma.squareRoot()
        // v = |x|ᵀ·u, rows in order (the order the stored scales were always computed in).
        var v = [Double](repeating: 0, count: n)
        x.values.withUnsafeBufferPointer { m in
            v.withUnsafeMutableBufferPointer { vp in
                lordba_weighted_abs_colsum(m.baseAddress, p, n, u, vp.baseAddress)
            }
        }
        let rowScale = u.map { Float($0 * root) }
        let columnScale = v.map { Float(root > 0 ? $0 / root : 0) }
        // Residual measured directly (not as ‖M‖² − σ²) so it is exact for the Float scales kept.
        let residual = x.values.withUnsafeBufferPointer { m in
            lordba_rank1_residual(m.baseAddress, p, n, rowScale, columnScale)
        }
        var fitted = 0.0
        let uu = rowScale.reduce(0.0) { $0 + Double($1) * Double($1) }
        let vv = columnScale.reduce(0.0) { $0 + Double($1) * Double($1) }
        fitted = (uu * vv).squareRoot()
        return MagnitudeFit(rowScale: rowScale, columnScale: columnScale, magnitudeNorm: fitted,
                            residualNorm: Swift.max(residual, 0).squareRoot(), norm: norm)
    }
}
