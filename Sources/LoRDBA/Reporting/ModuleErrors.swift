import CLoRDBAKernels

/// Reconstruction errors of one binarized module, all computed in low-rank form.
///
/// Every norm and inner product of `s·B·A` and `B̂·Â` is reduced to `r × r` (or `r × k`)
/// Gram matrices of the factors' rows, so the cost is `O((in + out)·r·k)`, never `O(in·out)`.
public struct ModuleErrors: Sendable, Equatable {
    /// `ρ_A`, the residual-to-magnitude ratio of `|A|` under its rank-1 fit (nil when not applicable).
    public var rhoA: Double?
    /// `ρ_B`, likewise for `|B|`.
    public var rhoB: Double?
    /// `‖A − Â‖_F/‖A‖_F` for the stored `Â`, when the module keeps one sign channel per LoRA rank.
    public var errorA: Double?
    /// `‖B − B̂‖_F/‖B‖_F`, likewise.
    public var errorB: Double?
    /// `‖BA − B̂Â‖_F/‖BA‖_F` with the scale folded in (exact, measured from the stored values).
    public var productError: Double
    /// `(‖B − B̂‖_F·‖A‖₂ + ‖B̂‖₂·‖A − Â‖_F)/‖BA‖_F`, an upper bound on `productError`.
    public var productErrorBound: Double?
    /// Cosine between `BA` and `B̂Â` as vectors.
    public var cosine: Double
    /// `‖s·B·A‖_F`.
    public var productNorm: Double
    /// Whether `errorA`/`errorB` equal `ρ/√(1+ρ²)` (signs are the factors' own and magnitudes are the rank-1 fits).
    public var identityApplies: Bool

    public init(rhoA: Double?, rhoB: Double?, errorA: Double?, errorB: Double?, productError: Double,
                productErrorBound: Double?, cosine: Double, productNorm: Double, identityApplies: Bool) {
        self.rhoA = rhoA
        self.rhoB = rhoB
        self.errorA = errorA
        self.errorB = errorB
        self.productError = productError
        self.productErrorBound = productErrorBound
        self.cosine = cosine
        self.productNorm = productNorm
        self.identityApplies = identityApplies
    }
}

/// Computes `ModuleErrors` for a module and its binary form.
///
/// One fused pass per side (A over `in`, B over `out`) reads the factor (B through strides, so
/// it is never transposed), expands the signs and scales of the binary factor 64 columns at a
/// time, and accumulates all three Gram matrices (`X·Xᵀ`, `Y·Yᵀ`, `X·Yᵀ`) and the factor
/// difference at once (`lordba_side_stats`).
///
/// The Grams are first summed in float blocks (products and 64-column sums in float, blocks in
/// double: twice the SIMD lanes of double). The product error is a difference of these sums, so
/// its relative rounding error grows as `1/error²`; when the float figure is below
/// ``exactBelow`` the sums are redone with exact products in double. Either way the operations
/// are the same on every CPU path, so the figures (and the choices made from them) are too.
public enum ErrorAnalysis {
    /// Product errors below this are recomputed with exact double products: above it, the float
    /// blocks' figures agree with the exact ones within 1e-6 relative (tested on random shapes).
    public static let exactBelow = 0.2

    /// Product error and cosine of `binary` against `original`, plus the factor-wise figures
    /// and the bound when `fits` (the binarizer's rank-1 fits) are given and `k == r`.
    /// With `threads` above 1 the two sides are measured side by side (the same figures).
    public static func analyze(original: LoRAModule, binary: BinaryModule,
                               fits: (a: MagnitudeFit, b: MagnitudeFit)? = nil, threads: Int = 1) -> ModuleErrors {
        let blocks = analyze(original: original, binary: binary, fits: fits, exact: false, threads: threads)
        return blocks.productError >= exactBelow
            ? blocks : analyze(original: original, binary: binary, fits: fits, exact: true, threads: threads)
    }

    /// The figures with the Grams summed in float blocks, or exactly (`exact`).
    static func analyze(original: LoRAModule, binary: BinaryModule,
                        fits: (a: MagnitudeFit, b: MagnitudeFit)?, exact: Bool, threads: Int = 1) -> ModuleErrors {
        let s = original.scale
        let r = original.rank
        let k = binary.binaryRank
        let factorFigures = fits != nil && k == r && s != 0

        // Split B̂Â back into factors matching A and B: Ã = diag(g)·S_A·diag(a) with g the
        // fitted row scale of |A| times a's normaliser, and B̃ = B̂·diag(1/g)/s, so B̃Ã = B̂Â/s.
        var g: [Double] = []
        var inverse: [Double] = []
        if let fits, factorFigures {
            // The divisor that normalised a (its stored peak is the dtype's normalised peak).
            let storedPeak = Double(binary.scales.input?.max() ?? 1)
            let aPeak = storedPeak > 0 ? Double(fits.a.columnScale.max() ?? 0) / storedPeak : 0
            g = fits.a.rowScale.map { Double($0) * aPeak }
            inverse = g.map { $0 > 0 ? 1 / ($0 * s) : 0 }
        }
        let (rowScales, inverseScales) = (g, inverse)
        let sides = ParallelLoop.map(count: 2, threads: threads) { side in
            side == 0
                ? SideStatistics(factor: original.a, rowStride: original.a.cols, columnStride: 1, rows: r,
                                 signs: binary.signA, rowScale: nil, columnScale: binary.scales.input,
                                 columns: original.a.cols, g: factorFigures ? rowScales : nil, exact: exact)
                : SideStatistics(factor: original.b, rowStride: 1, columnStride: r, rows: r,
                                 signs: binary.signB, rowScale: binary.scales.middle, columnScale: binary.scales.output,
                                 columns: original.b.rows, g: factorFigures ? inverseScales : nil, exact: exact)
        }
        let (sideA, sideB) = (sides[0], sides[1])
        let product = LowRankProduct.comparison(
            xx: s * s * SmallLinearAlgebra.frobeniusInner(sideB.xx, sideA.xx),
            yy: SmallLinearAlgebra.frobeniusInner(sideB.yy, sideA.yy),
            xy: s * SmallLinearAlgebra.frobeniusInner(sideB.xy, sideA.xy))
        let productNorm = product.referenceNorm
        let hatNorm = product.approximationNorm

        var result = ModuleErrors(
            rhoA: fits?.a.residualRatio, rhoB: fits?.b.residualRatio, errorA: nil, errorB: nil,
            productError: product.relativeError, productErrorBound: nil, cosine: product.cosine,
            productNorm: productNorm, identityApplies: false)
        guard factorFigures else { return result }

        let aDiff = sideA.differenceSquared.squareRoot()
        let bDiff = sideB.differenceSquared.squareRoot()
        let aNorm = Swift.max(0, (0..<r).reduce(0.0) { $0 + sideA.xx[$1 * r + $1] }).squareRoot()
        let bNorm = Swift.max(0, (0..<r).reduce(0.0) { $0 + sideB.xx[$1 * r + $1] }).squareRoot()
        // Gram of B̃'s rows from B̂'s: B̃ = diag(1/(g·s))·B̂.
        var gramBTilde = sideB.yy
        for i in 0..<r { for j in 0..<r { gramBTilde[i * r + j] *= inverse[i] * inverse[j] } }
        // Spectral norms by repeated squaring (1e-7 relative, a bound's ingredients).
        let aSpectral = lordbaLargestEigenvalue(sideA.xx, n: r).squareRoot()
        let bTildeSpectral = lordbaLargestEigenvalue(gramBTilde, n: r).squareRoot()
        let baNorm = productNorm / abs(s)
        result.errorA = LowRankProduct.relative(aDiff, aNorm, other: 0)
        result.errorB = LowRankProduct.relative(bDiff, bNorm, other: 0)
        result.productErrorBound = LowRankProduct.relative(bDiff * aSpectral + bTildeSpectral * aDiff, baNorm, other: hatNorm)
        result.identityApplies = true
        return result
    }
}

/// The Gram matrices of one side of a comparison: X (a factor's `rows` rank channels over
/// `columns`, read through strides) against Y (±scales from a sign matrix), by one C pass;
/// `exact` sums exact double products, otherwise float blocks (see `lordba_side_stats`).
struct SideStatistics {
    /// `X·Xᵀ`, `rows × rows`.
    var xx: [Double]
    /// `Y·Yᵀ`, `k × k`.
    var yy: [Double]
    /// `X·Yᵀ`, `rows × k`.
    var xy: [Double]
    /// `Σ (X − (float)(Y·g))²` over the first `rows` sign rows, when `g` is given.
    var differenceSquared: Double

    init(factor: Matrix, rowStride: Int, columnStride: Int, rows p: Int, signs: SignMatrix,
         rowScale: [Float]?, columnScale: [Float]?, columns n: Int, g: [Double]?, exact: Bool) {
        let q = signs.rows
        precondition(signs.cols == n && (g == nil || (g!.count == p && q >= p)), "side statistics: shapes disagree")
        var xx = [Double](repeating: 0, count: p * p)
        var yy = [Double](repeating: 0, count: q * q)
        var xy = [Double](repeating: 0, count: p * q)
        var difference = 0.0
        if n > 0 {
            factor.values.withUnsafeBufferPointer { x in
                signs.words.withUnsafeBufferPointer { w in
                    withOptionalPointer(rowScale) { rs in
                        withOptionalPointer(columnScale) { cs in
                            withOptionalPointer(g) { gp in
                                difference = lordba_side_stats(x.baseAddress, rowStride, columnStride, p, w.baseAddress,
                                                               signs.wordsPerRow, rs, cs, q, n, gp, exact ? 1 : 0,
                                                               &xx, &yy, &xy)
                            }
                        }
                    }
                }
            }
        }
        self.xx = xx
        self.yy = yy
        self.xy = xy
        self.differenceSquared = difference
    }
}

extension ModuleErrors {
    /// The "describe plain binarization" rule, for the figures reported for a refined module:
    /// its own measured product error, cosine and norm, with the factor figures (ρ, ε) of plain
    /// binarization of the input's factors, and plain's bound when the measured error is no
    /// larger (the bound then still holds). `identityApplies` is false: ε = ρ/√(1+ρ²)
    /// describes plain binarization, not this module.
    public func describingPlainBinarization(_ plain: ModuleErrors) -> ModuleErrors {
        var errors = self
        errors.rhoA = plain.rhoA
        errors.rhoB = plain.rhoB
        errors.errorA = plain.errorA
        errors.errorB = plain.errorB
        if productError <= plain.productError { errors.productErrorBound = plain.productErrorBound }
        errors.identityApplies = false
        return errors
    }
}

/// The largest eigenvalue of a symmetric positive semi-definite `n × n` matrix by repeated
/// squaring and a Rayleigh quotient (within 2e-7 relative; cheaper than Jacobi for a report).
func lordbaLargestEigenvalue(_ g: [Double], n: Int) -> Double {
    precondition(g.count == n * n)
    return lordba_largest_eigenvalue(g, n)
}

/// Calls `body` with a pointer to `array`'s elements, or nil.
private func withOptionalPointer<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
