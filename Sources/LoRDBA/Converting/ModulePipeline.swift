/// One module through the whole pipeline: factorizer → binarizer → refiner, with the plain
/// binarization kept as the fallback so the result is never worse than it.
public struct ModulePipeline: Sendable {
    public var options: PipelineOptions

    public init(options: PipelineOptions) {
        self.options = options
    }

    /// The stored module, its error figures, and how it was made.
    public struct Outcome: Sendable {
        public var module: BinaryModule
        public var errors: ModuleErrors
        /// Product error of plain binarization (the as-is factors, rank-1 magnitudes).
        public var plainProductError: Double
        /// What produced the stored module, e.g. `balanced · k=32 · als · ste`, or `plain`.
        public var method: String
    }

    /// Runs the pipeline; `inputSquareMean` (per input channel) weights the objective when given.
    public func run(_ module: LoRAModule, inputSquareMean: [Float]? = nil) -> Outcome {
        // Plain binarization: the report's factor figures, and the floor every option must beat.
        let plain = Binarizer(scaleDType: options.scaleDType).binarize(module)
        let plainErrors = ErrorAnalysis.analyze(original: module, binary: plain.module, fits: (plain.fitA, plain.fitB))
        let isPlain = options.factorization == .asIs && options.refitSweeps == 0 && options.refineSteps == 0
            && options.binaryRank == .multiple(1) && options.targetError == nil && !options.compactScales
        if isPlain {
            return Outcome(module: plain.module, errors: plainErrors, plainProductError: plainErrors.productError, method: "plain")
        }
        let target = RefinementTarget(module, inputSquareMean: inputSquareMean)

        // 1. Factorization: each candidate binarized and refitted in closed form; keep the best.
        let factorizations = options.factorization == .auto ? Factorization.candidates : [options.factorization]
        // Candidates are compared after a few sweeps; the winner then gets the rest.
        let trialSweeps = factorizations.count > 1 ? Swift.min(options.refitSweeps, 2) : options.refitSweeps
        var best: (state: RefinementState, objective: Double, factors: LoRAModule, name: Factorization)?
        for f in factorizations {
            let factors = Factorizer.apply(f, to: module, seed: options.seed)
            var state = initialState(factors, target: target)
            let objective = trialSweeps > 0 ? ScaleRefit.refine(&state, target: target, sweeps: trialSweeps) : state.objective(target)
            if best == nil || objective < best!.objective { best = (state, objective, factors, f) }
        }
        var (state, _, factors, chosen) = best!
        if options.refitSweeps > trialSweeps {
            ScaleRefit.refine(&state, target: target, sweeps: options.refitSweeps - trialSweeps)
        }
        var latentA = factors.a
        var latentB = factors.b.transposed()

        // 2. More sign channels: binarize the residual again, in rounds of at most r channels.
        let r = module.rank
        let maximum = options.targetError == nil
            ? options.binaryRank.channels(rank: r)
            : (options.binaryRank == .multiple(1) ? 4 * r : options.binaryRank.channels(rank: r))
        while state.k < maximum {
            if let goal = options.targetError, relativeError(state, target) <= goal { break }
            let extra = Swift.min(r, maximum - state.k)
            guard let round = residualChannels(state, target: target, count: extra) else { break }
            state.append(signA: round.signA, signB: round.signB, m: round.m)
            latentA = Matrix(rows: latentA.rows + round.latentA.rows, cols: latentA.cols, values: latentA.values + round.latentA.values)
            latentB = Matrix(rows: latentB.rows + round.latentB.rows, cols: latentB.cols, values: latentB.values + round.latentB.values)
            ScaleRefit.refine(&state, target: target, sweeps: Swift.max(options.refitSweeps, 2))
        }

        // 3. Straight-through refinement of signs and scales.
        if options.refineSteps > 0 {
            SignRefiner(steps: options.refineSteps).refine(&state, target: target, latentA: latentA, latentB: latentB)
        }

        // 4. Store (normalise and round the scales), measure, and never do worse than plain.
        let stored = state.binaryModule(like: plain.module, target: target, scaleDType: options.scaleDType,
                                        compact: options.compactScales)
        let measured = ErrorAnalysis.analyze(original: module, binary: stored)
        var method = [chosen.rawValue]
        if stored.binaryRank != r { method.append("k=\(stored.binaryRank)") }
        if options.compactScales { method.append("compact") }
        if options.refitSweeps > 0 { method.append("als") }
        if options.refineSteps > 0 { method.append("ste") }
        if !options.compactScales && stored.binaryRank == r && measured.productError > plainErrors.productError {
            return Outcome(module: plain.module, errors: plainErrors, plainProductError: plainErrors.productError, method: "plain")
        }
        var errors = measured
        // Factor figures and the bound describe plain binarization of the input's factors; the
        // bound still holds for the stored module, whose error is no larger.
        errors.rhoA = plainErrors.rhoA
        errors.rhoB = plainErrors.rhoB
        errors.errorA = plainErrors.errorA
        errors.errorB = plainErrors.errorB
        if measured.productError <= plainErrors.productError { errors.productErrorBound = plainErrors.productErrorBound }
        errors.identityApplies = false
        return Outcome(module: stored, errors: errors, plainProductError: plainErrors.productError,
                       method: method.joined(separator: " · "))
    }

    /// Signs and rank-1 magnitudes of `factors` as an unnormalised working state.
    func initialState(_ factors: LoRAModule, target: RefinementTarget) -> RefinementState {
        let binary = Binarizer(scaleDType: .f32).binarize(factors).module
        var state = RefinementState(binary, target: target)
        if options.compactScales {
            // Drop a: fold its mean into m, then let the closed-form refit adapt m and b.
            let mean = state.a.reduce(0, +) / Float(Swift.max(state.a.count, 1))
            state.m = state.m.map { $0 * mean }
            state.a = target.inputWeights ?? [Float](repeating: 1, count: state.a.count)
            state.fixedInputScale = true
            ScaleRefit.solveMiddle(&state, target: target)
        }
        return state
    }

    func relativeError(_ state: RefinementState, _ target: RefinementTarget) -> Double {
        target.normSquared > 0 ? (state.objective(target) / target.normSquared).squareRoot() : 0
    }

    /// `count` new channels approximating the residual `X − Y` after removing the shared scales:
    /// the top singular directions of `diag(1/b)·(X − Y)·diag(1/a)`, each replaced by the best
    /// scalar times the outer product of their signs.
    func residualChannels(_ state: RefinementState, target: RefinementTarget, count: Int)
        -> (signA: Matrix, signB: Matrix, m: [Float], latentA: Matrix, latentB: Matrix)?
    {
        // Residual in rank-major factors: leftᵀ·right − Ŷ = [left; −Ŷ_left]ᵀ·[right; Ŷ_right].
        var left = Matrix(rows: target.left.rows + state.k, cols: target.left.cols,
                          values: target.left.values + state.effectiveLeft().values.map { -$0 })
        var right = Matrix(rows: target.right.rows + state.k, cols: target.right.cols,
                           values: target.right.values + state.effectiveRight().values)
        ScaleRefit.scaleColumns(&left, by: state.b.map { $0 != 0 ? 1 / $0 : 0 })
        ScaleRefit.scaleColumns(&right, by: state.a.map { $0 != 0 ? 1 / $0 : 0 })
        let residual = LoRAModule(name: "residual", a: right, b: left.transposed(), scale: 1,
                                  source: .init(aTensor: "", bTensor: "", dtype: .f32))
        let balanced = Factorizer.balanced(residual)          // rows in descending singular value
        let n = Swift.min(count, balanced.rank)
        guard n > 0 else { return nil }
        let a2 = Matrix(rows: n, cols: balanced.inFeatures, values: Array(balanced.a.values.prefix(n * balanced.inFeatures)))
        let b2 = balanced.b.transposed()
        let b2Rows = Matrix(rows: n, cols: b2.cols, values: Array(b2.values.prefix(n * b2.cols)))
        let signA = Matrix(rows: n, cols: a2.cols, values: a2.values.map { $0 < 0 ? -1 : 1 })
        let signB = Matrix(rows: n, cols: b2Rows.cols, values: b2Rows.values.map { $0 < 0 ? -1 : 1 })
        // Best scalar for σ·u·vᵀ ≈ μ·sign(u)·sign(v)ᵀ: μ = ‖√σu‖₁·‖√σv‖₁ / (out·in).
        let m = (0..<n).map { j -> Float in
            var l1a: Float = 0, l1b: Float = 0
            for i in 0..<a2.cols { l1a += abs(a2.values[j * a2.cols + i]) }
            for o in 0..<b2Rows.cols { l1b += abs(b2Rows.values[j * b2Rows.cols + o]) }
            return l1a * l1b / Float(a2.cols * b2Rows.cols)
        }
        return (signA, signB, m, a2, b2Rows)
    }
}
