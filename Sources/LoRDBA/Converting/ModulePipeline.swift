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
        let plainOutcome = Outcome(module: plain.module, errors: plainErrors, plainProductError: plainErrors.productError,
                                   method: "plain")
        if options.isPlain { return plainOutcome }
        let target = RefinementTarget(module, inputSquareMean: inputSquareMean)
        let r = module.rank
        let maximum = options.targetError == nil
            ? options.binaryRank.channels(rank: r)
            : (options.binaryRank == .multiple(1) ? 4 * r : options.binaryRank.channels(rank: r))
        let search = SignDescent(rounds: options.descentRounds)

        // 1. Factorizer → binarizer → closed-form refit, per candidate factorization (the top
        //    directions of the balanced one when fewer channels than r are asked for).
        // 2. More sign channels than r: the residual binarized again, in rounds of at most r;
        //    with a target error, each binary rank is searched before deciding to grow.
        // 3. Exact sign search (binary coordinate descent alternating with the refit).
        // The search changes which factorization binarizes best, so `auto` searches each
        // candidate and keeps the lowest objective.
        let candidates = factorized(module, target: target, channels: Swift.min(maximum, r))
        var trial = search
        if candidates.count > 1 { trial.rounds = (search.rounds + 1) / 2 }
        var best: Candidate?
        for var candidate in candidates {
            if options.targetError != nil { candidate.objective = search.refine(&candidate.state, target: target) }
            while candidate.state.k < maximum {
                if let goal = options.targetError, relativeError(candidate.state, target) <= goal { break }
                guard let round = residualChannels(candidate.state, target: target,
                                                   count: Swift.min(r, maximum - candidate.state.k)) else { break }
                candidate.state.append(signA: round.signA, signB: round.signB, m: round.m)
                candidate.latent.append(a: round.latentA, b: round.latentB)
                candidate.objective = ScaleRefit.refine(&candidate.state, target: target, sweeps: Swift.max(options.refitSweeps, 2))
                if options.targetError != nil { candidate.objective = search.refine(&candidate.state, target: target) }
            }
            if options.targetError == nil { candidate.objective = trial.refine(&candidate.state, target: target) }
            if best == nil || candidate.objective < best!.objective { best = candidate }
        }
        // Several candidates: each was searched for half the rounds; the best gets the rest.
        if options.targetError == nil && candidates.count > 1 && search.rounds > trial.rounds {
            var rest = search
            rest.rounds = search.rounds - trial.rounds
            best!.objective = rest.refine(&best!.state, target: target)
        }
        var (state, latent, chosen) = (best!.state, best!.latent, best!.factorization)

        // 4. Straight-through refinement, opt-in; it keeps its best iterate, so never worse.
        if options.refineSteps > 0 {
            latent.alignSigns(with: state)
            SignRefiner(steps: options.refineSteps).refine(&state, target: target, latentA: latent.a, latentB: latent.b)
        }

        // 5. Store (normalise and round the scales, refit m), measure, and never do worse than plain.
        let stored = state.binaryModule(like: plain.module, target: target, scaleDType: options.scaleDType,
                                        compact: options.compactScales)
        let measured = ErrorAnalysis.analyze(original: module, binary: stored)
        if !options.compactScales && stored.binaryRank == r && measured.productError > plainErrors.productError {
            return plainOutcome
        }
        var method = [chosen.rawValue]
        if stored.binaryRank != r { method.append("k=\(stored.binaryRank)") }
        if options.compactScales { method.append("compact") }
        if options.refitSweeps > 0 { method.append("als") }
        if options.descentRounds > 0 { method.append("bcd") }
        if options.refineSteps > 0 { method.append("ste") }
        return Outcome(module: stored, errors: measured.describingFactors(of: plainErrors),
                       plainProductError: plainErrors.productError, method: method.joined(separator: " · "))
    }

    /// Latent real factors whose signs are the state's: they seed the straight-through refiner.
    struct Latent {
        /// `[k, in]`.
        var a: Matrix
        /// `[k, out]`, rank-major.
        var b: Matrix

        mutating func append(a extraA: Matrix, b extraB: Matrix) {
            a = Matrix(rows: a.rows + extraA.rows, cols: a.cols, values: a.values + extraA.values)
            b = Matrix(rows: b.rows + extraB.rows, cols: b.cols, values: b.values + extraB.values)
        }

        /// Gives every latent the sign the state holds (the sign search flips some), keeping its magnitude.
        mutating func alignSigns(with state: RefinementState) {
            func aligned(_ latent: inout Matrix, _ signs: Matrix) {
                for i in latent.values.indices {
                    let magnitude = Swift.max(abs(latent.values[i]), Float.leastNormalMagnitude)
                    latent.values[i] = signs.values[i] < 0 ? -magnitude : magnitude
                }
            }
            aligned(&a, state.signA)
            aligned(&b, state.signB)
        }
    }

    /// One factorization's working state and what it reaches.
    struct Candidate {
        var state: RefinementState
        var latent: Latent
        var factorization: Factorization
        var objective: Double
    }

    /// Working states after factorizing, binarizing and refitting with `channels` sign channels
    /// (`channels ≤ r`; below `r`, the top directions of the balanced factorization). Without the
    /// sign search, `auto` keeps only the candidate with the lowest objective after a few refit
    /// sweeps (which then gets the rest); with it, every candidate goes on to the search.
    func factorized(_ module: LoRAModule, target: RefinementTarget, channels: Int) -> [Candidate] {
        let factorizations: [Factorization]
        if channels < module.rank {
            factorizations = [.balanced]
        } else {
            factorizations = options.factorization == .auto ? (options.descentRounds > 0 ? Factorization.searchCandidates : Factorization.candidates) : [options.factorization]
        }
        // With the sign search, which moves a and b with the signs, no refit is needed first.
        let trialSweeps = options.descentRounds > 0 ? 0
            : factorizations.count > 1 ? Swift.min(options.refitSweeps, 2) : options.refitSweeps
        var candidates: [Candidate] = []
        for f in factorizations {
            var factors = Factorizer.apply(f, to: module, seed: options.seed)
            if channels < factors.rank { factors = factors.truncated(toRank: channels) }
            var state = initialState(factors, target: target)
            let objective = trialSweeps > 0 ? ScaleRefit.refine(&state, target: target, sweeps: trialSweeps) : state.objective(target)
            candidates.append(Candidate(state: state, latent: Latent(a: factors.a, b: factors.b.transposed()),
                                        factorization: f, objective: objective))
        }
        if options.descentRounds > 0 { return candidates }
        var best = candidates.min { $0.objective < $1.objective }!   // the first on ties
        if options.refitSweeps > trialSweeps {
            best.objective = ScaleRefit.refine(&best.state, target: target, sweeps: options.refitSweeps - trialSweeps)
        }
        return [best]
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
