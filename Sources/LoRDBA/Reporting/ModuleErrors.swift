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
public enum ErrorAnalysis {
    /// Product error and cosine of `binary` against `original`, plus the factor-wise figures
    /// and the bound when `fits` (the binarizer's rank-1 fits) are given and `k == r`.
    public static func analyze(original: LoRAModule, binary: BinaryModule,
                               fits: (a: MagnitudeFit, b: MagnitudeFit)? = nil) -> ModuleErrors {
        let s = original.scale
        let aRows = original.a                      // [r, in]
        let bRows = original.b.transposed()         // [r, out]
        let aHat = binary.effectiveA()              // [k, in]
        let bHat = effectiveBRankMajor(binary)      // [k, out]
        let product = LowRankProduct.compare(
            reference: LowRankProduct(left: bRows, right: aRows, scale: s),
            approximation: LowRankProduct(left: bHat, right: aHat))
        let productNorm = product.referenceNorm
        let hatNorm = product.approximationNorm
        let productError = product.relativeError
        let cosine = product.cosine

        var result = ModuleErrors(
            rhoA: fits?.a.residualRatio, rhoB: fits?.b.residualRatio, errorA: nil, errorB: nil,
            productError: productError, productErrorBound: nil, cosine: cosine,
            productNorm: productNorm, identityApplies: false)
        guard let fits, binary.binaryRank == original.rank, s != 0 else { return result }

        // Split B̂Â back into factors matching A and B: Ã = diag(g)·S_A·diag(a) with g the
        // fitted row scale of |A| times a's normaliser, and B̃ = B̂·diag(1/g)/s, so B̃Ã = B̂Â/s.
        let r = original.rank
        let gramA = SmallLinearAlgebra.gram(aRows)
        // The divisor that normalised a (its stored peak is the dtype's normalised peak).
        let storedPeak = Double(binary.scales.input?.max() ?? 1)
        let aPeak = storedPeak > 0 ? Double(fits.a.columnScale.max() ?? 0) / storedPeak : 0
        let g = fits.a.rowScale.map { Double($0) * aPeak }
        var aTilde = aHat
        var bTilde = bHat
        for j in 0..<r {
            let gj = g[j]
            for c in 0..<aTilde.cols { aTilde[j, c] = Float(Double(aTilde[j, c]) * gj) }
            let inverse = gj > 0 ? 1 / (gj * s) : 0
            for c in 0..<bTilde.cols { bTilde[j, c] = Float(Double(bTilde[j, c]) * inverse) }
        }
        let aDiff = differenceNorm(aRows, aTilde)
        let bDiff = differenceNorm(bRows, bTilde)
        let aNorm = aRows.frobeniusNormSquared.squareRoot()
        let bNorm = bRows.frobeniusNormSquared.squareRoot()
        let aSpectral = SmallLinearAlgebra.largestEigenvalue(gramA, n: r).squareRoot()
        let bTildeSpectral = SmallLinearAlgebra.largestEigenvalue(SmallLinearAlgebra.gram(bTilde), n: r).squareRoot()
        let baNorm = productNorm / abs(s)
        result.errorA = LowRankProduct.relative(aDiff, aNorm, other: 0)
        result.errorB = LowRankProduct.relative(bDiff, bNorm, other: 0)
        result.productErrorBound = LowRankProduct.relative(bDiff * aSpectral + bTildeSpectral * aDiff, baNorm, other: hatNorm)
        result.identityApplies = true
        return result
    }

    /// `B̂ᵀ = diag(m)·S_B·diag(b)` as a `[k, out]` matrix (rank-major, like `S_B` is stored).
    static func effectiveBRankMajor(_ binary: BinaryModule) -> Matrix {
        var out = binary.signB.dense()
        let m = binary.scales.middle
        let b = binary.scales.output
        for j in 0..<out.rows {
            for o in 0..<out.cols { out[j, o] *= m[j] * b[o] }
        }
        return out
    }

    /// `‖X − Y‖_F` for two matrices of one shape.
    static func differenceNorm(_ x: Matrix, _ y: Matrix) -> Double {
        var sum = 0.0
        for i in 0..<x.values.count {
            let d = Double(x.values[i]) - Double(y.values[i])
            sum += d * d
        }
        return sum.squareRoot()
    }
}

extension ModuleErrors {
    /// The figures reported for a refined module: its own measured product error, cosine and
    /// norm, with the factor figures (ρ, ε) of plain binarization of the input's factors, and
    /// plain's bound when the measured error is no larger (the bound then still holds).
    /// `identityApplies` is false: ε = ρ/√(1+ρ²) describes plain binarization, not this module.
    public func describingFactors(of plain: ModuleErrors) -> ModuleErrors {
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
