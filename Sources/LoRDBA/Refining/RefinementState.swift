/// What refinement fits: the target product `X = leftᵀ·right` (`s·B·A`, optionally weighted by
/// input channel), in rank-major factors. `left` is `s·Bᵀ` (`[r, out]`), `right` is `A·diag(w)`
/// (`[r, in]`) where `w = √d` are the calibration weights (all ones without calibration).
public struct RefinementTarget: Sendable {
    public var left: Matrix
    public var right: Matrix
    /// `√d` per input channel, or `nil` for the plain Frobenius objective.
    public var inputWeights: [Float]?
    /// `‖X‖²_F` (weighted).
    public let normSquared: Double

    /// The target for `module`, weighted by `inputSquareMean` (`d`, the mean of x² per input channel) if given.
    public init(_ module: LoRAModule, inputSquareMean: [Float]? = nil) {
        var left = module.b.transposed()
        let s = Float(module.scale)
        for i in left.values.indices { left.values[i] *= s }
        var right = module.a
        var weights: [Float]?
        if let d = inputSquareMean {
            precondition(d.count == module.inFeatures, "calibration statistics do not match the module")
            let w = d.map { $0 > 0 ? $0.squareRoot() : 0 }
            weights = w
            for r in 0..<right.rows {
                for c in 0..<right.cols { right[r, c] *= w[c] }
            }
        }
        self.left = left
        self.right = right
        self.inputWeights = weights
        normSquared = SmallLinearAlgebra.frobeniusInner(SmallLinearAlgebra.gram(left), SmallLinearAlgebra.gram(right))
    }
}

/// A binary module in working form: signs expanded to ±1 floats, scales unnormalised.
///
/// `Y = Bᵀ-rows…`: the product is `(m ⊙ S_B ⊙ b)ᵀ·(S_A ⊙ a)` with `S_A` `[k, in]`, `S_B`
/// `[k, out]`. When the target is weighted, `a` here is the weighted input scale `a ⊙ w`.
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

    /// `S_A ⊙ a` rows, `[k, in]`.
    func effectiveRight() -> Matrix {
        var out = signA
        let n = out.cols
        out.values.withUnsafeMutableBufferPointer { p in
            for j in 0..<out.rows {
                for i in 0..<n { p[j * n + i] *= a[i] }
            }
        }
        return out
    }

    /// `m ⊙ S_B ⊙ b` rows, `[k, out]`.
    func effectiveLeft() -> Matrix {
        var out = signB
        let n = out.cols
        out.values.withUnsafeMutableBufferPointer { p in
            for j in 0..<out.rows {
                let mj = m[j]
                for o in 0..<n { p[j * n + o] *= mj * b[o] }
            }
        }
        return out
    }

    /// `‖X − Y‖²` for this state, from Gram matrices (accumulated in `Float`: this steers the
    /// optimisation; reported errors are measured separately in `Double`).
    public func objective(_ target: RefinementTarget) -> Double {
        let left = effectiveLeft(), right = effectiveRight()
        let yy = Self.inner(SmallLinearAlgebra.gramFloat(left), SmallLinearAlgebra.gramFloat(right))
        let xy = Self.inner(SmallLinearAlgebra.rowDotsFloat(target.left, left), SmallLinearAlgebra.rowDotsFloat(target.right, right))
        return Swift.max(target.normSquared - 2 * xy + yy, 0)
    }

    static func inner(_ x: [Float], _ y: [Float]) -> Double {
        var s = 0.0
        for i in x.indices { s += Double(x[i]) * Double(y[i]) }
        return s
    }

    /// The state of a binarized module (`a` missing means ones), with `a` weighted when the target is.
    public init(_ module: BinaryModule, target: RefinementTarget) {
        let a = module.scales.input ?? [Float](repeating: 1, count: module.inFeatures)
        let weighted = target.inputWeights.map { w in zip(a, w).map { $0 * $1 } } ?? a
        self.init(signA: module.signA.dense(), signB: module.signB.dense(), a: weighted,
                  m: module.scales.middle, b: module.scales.output, fixedInputScale: module.scales.input == nil)
    }

    /// Stacks the channels of `other` under this state's (same `a` and `b`).
    mutating func append(signA extraA: Matrix, signB extraB: Matrix, m extraM: [Float]) {
        signA = Matrix(rows: signA.rows + extraA.rows, cols: signA.cols, values: signA.values + extraA.values)
        signB = Matrix(rows: signB.rows + extraB.rows, cols: signB.cols, values: signB.values + extraB.values)
        m += extraM
    }

    /// The stored module: `a` unweighted, `a` and `b` normalised to the dtype's peak and rounded,
    /// then `m` refitted in closed form for the rounded values (it is stored as f32).
    public func binaryModule(like template: BinaryModule, target: RefinementTarget, scaleDType: ScaleDType,
                             compact: Bool) -> BinaryModule {
        var state = self
        if let w = target.inputWeights {
            let original = template.scales.input ?? [Float](repeating: 1, count: a.count)
            state.a = (0..<a.count).map { i in w[i] > 0 ? a[i] / w[i] : original[i] }
        }
        func normalise(_ v: [Float]) -> ([Float], Float) {
            let peak = (v.map { abs($0) }.max() ?? 0) / scaleDType.normalisedPeak
            guard peak > 0 else { return (v.map { _ in 0 }, 0) }
            return (v.map { scaleDType.rounded($0 / peak) }, peak)
        }
        let (b, bPeak) = normalise(state.b)
        state.b = b
        var aPeak: Float = 1
        if !compact {
            let (a, peak) = normalise(state.a)
            state.a = a
            aPeak = peak
        }
        state.m = state.m.map { $0 * aPeak * bPeak }
        // Back to the weighted form for the m refit, then out again.
        var fitted = state
        if let w = target.inputWeights { fitted.a = zip(state.a, w).map { $0 * $1 } }
        fitted.fixedInputScale = true
        ScaleRefit.solveMiddle(&fitted, target: target)
        return BinaryModule(
            name: template.name, kind: template.kind, rank: template.rank, loraScale: template.loraScale,
            signA: SignMatrix(signsOf: state.signA), signB: SignMatrix(signsOf: state.signB),
            scales: ChannelScales(input: compact ? nil : state.a, middle: fitted.m, output: state.b),
            source: template.source)
    }
}
