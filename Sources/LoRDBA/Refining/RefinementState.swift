/// What refinement fits: the target product `X = s·B·A`, optionally weighted by input channel,
/// with the scale folded into `Bᵀ` and `A` replaced by `A·diag(w)`, where `w = √d` are the
/// calibration weights (all ones without calibration).
public struct RefinementTarget: Sendable {
    /// `X` (scale 1): `Bᵀ` is `s·Bᵀ` (`[r, out]`), `A` is `A·diag(w)` (`[r, in]`).
    public var product: LowRankProduct
    /// `√d` per input channel, or `nil` for the plain Frobenius objective.
    public var inputWeights: [Float]?
    /// `‖X‖²_F` (weighted).
    public let normSquared: Double

    /// The target for `module`, weighted by `inputSquareMean` (`d`, the mean of x² per input channel) if given.
    public init(_ module: LoRAModule, inputSquareMean: [Float]? = nil) {
        self.init(LowRankProduct(module), inputSquareMean: inputSquareMean)
    }

    /// The target for the product `s·B·A`, weighted by `inputSquareMean` if given.
    public init(_ original: LowRankProduct, inputSquareMean: [Float]? = nil) {
        var product = original.foldingScale()
        var weights: [Float]?
        if let d = inputSquareMean {
            precondition(d.count == original.inFeatures, "calibration statistics do not match the module")
            let w = d.map { $0 > 0 ? $0.squareRoot() : 0 }
            weights = w
            SmallLinearAlgebra.scaleColumns(&product.a, by: w)
        }
        self.product = product
        self.inputWeights = weights
        normSquared = product.normSquared
    }
}

/// A binary module in working form: signs expanded to ±1 floats, scales unnormalised.
///
/// The product is `(m ⊙ S_B ⊙ b)ᵀ·(S_A ⊙ a)` with `S_A` `[k, in]`, `S_B` `[k, out]` (rank-major).
/// When the target is weighted, `a` here is the weighted input scale `a ⊙ w`.
public struct RefinementState: Sendable {
    public var signA: Matrix
    public var signB: Matrix
    public var a: [Float]
    public var m: [Float]
    public var b: [Float]
    /// Keep `a` fixed at its current value (compact scales: all ones).
    public var fixedInputScale: Bool

    public init(signA: Matrix, signB: Matrix, a: [Float], m: [Float], b: [Float], fixedInputScale: Bool = false) {
        self.signA = signA
        self.signB = signB
        self.a = a
        self.m = m
        self.b = b
        self.fixedInputScale = fixedInputScale
    }

    /// The binary rank.
    public var k: Int { m.count }

    /// `B̂·Â` of this state: `Â = S_A ⊙ a` (`[k, in]`), `B̂ᵀ = m ⊙ S_B ⊙ b` (`[k, out]`).
    public func effectiveFactors() -> LowRankProduct {
        LowRankProduct(signA: signA, signB: signB, scales: ChannelScales(input: a, middle: m, output: b))
    }

    /// `‖X − Y‖²` for this state, from Gram matrices (accumulated in `Float`: this steers the
    /// optimisation; reported errors are measured separately in `Double`).
    public func objective(_ target: RefinementTarget) -> Double {
        let y = effectiveFactors()
        let yy = Self.inner(SmallLinearAlgebra.gramFloat(y.bTransposed), SmallLinearAlgebra.gramFloat(y.a))
        let xy = Self.inner(SmallLinearAlgebra.rowDotsFloat(target.product.bTransposed, y.bTransposed),
                            SmallLinearAlgebra.rowDotsFloat(target.product.a, y.a))
        return Swift.max(target.normSquared - 2 * xy + yy, 0)
    }

    static func inner(_ x: [Float], _ y: [Float]) -> Double {
        var s = 0.0
        for i in x.indices { s += Double(x[i]) * Double(y[i]) }
        return s
    }

    /// The state of a binarized module (`a` missing means ones), with `a` weighted when the target is.
    public init(_ module: BinaryModule, target: RefinementTarget) {
        self.init(signA: module.signA, signB: module.signB, scales: module.scales, target: target)
    }

    /// The state of binary signs and scales (`a` missing means ones), with `a` weighted when the target is.
    public init(signA: SignMatrix, signB: SignMatrix, scales: ChannelScales, target: RefinementTarget) {
        let a = scales.input ?? [Float](repeating: 1, count: signA.cols)
        let weighted = target.inputWeights.map { w in zip(a, w).map { $0 * $1 } } ?? a
        self.init(signA: signA.dense(), signB: signB.dense(), a: weighted,
                  m: scales.middle, b: scales.output, fixedInputScale: scales.input == nil)
    }

    /// Stacks extra channels (`±1` rows and their `m`) under this state's (same `a` and `b`).
    mutating func append(signA extraA: Matrix, signB extraB: Matrix, m extraM: [Float]) {
        signA = signA.stacking(extraA)
        signB = signB.stacking(extraB)
        m += extraM
    }

    /// The scales as stored: `a` unweighted where the target weights it (an input channel of
    /// weight 0 keeps `template`'s `a`, or 1), `m` and `b` as they are, none normalised.
    public func unweightedScales(target: RefinementTarget, template: BinaryModule) -> ChannelScales {
        var input = a
        if let w = target.inputWeights {
            let original = template.scales.input ?? [Float](repeating: 1, count: a.count)
            input = (0..<a.count).map { i in w[i] > 0 ? a[i] / w[i] : original[i] }
        }
        return ChannelScales(input: input, middle: m, output: b)
    }

    /// `m` solved in closed form for other (stored, rounded) scales `a` and `b` with this
    /// state's signs (`a` weighted again when the target is); `scales.middle` is the fallback.
    public func refittedMiddle(for scales: ChannelScales, target: RefinementTarget) -> [Float] {
        var fitted = self
        let input = scales.input ?? a
        fitted.a = target.inputWeights.map { w in zip(input, w).map { $0 * $1 } } ?? input
        fitted.m = scales.middle
        fitted.b = scales.output
        fitted.fixedInputScale = true
        ScaleRefit.solveMiddle(&fitted, target: target)
        return fitted.m
    }
}
