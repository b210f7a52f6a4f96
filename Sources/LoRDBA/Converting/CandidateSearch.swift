/// Steps 1–3 of `ModulePipeline.run`: the working state that reaches the lowest objective.
///
/// 1. Factorizer → binarizer → closed-form refit, per candidate factorization (the top
///    directions of the balanced one when fewer channels than r are asked for).
/// 2. More sign channels than r: the residual binarized again (`ResidualChannels`), in rounds
///    of at most r; with a target error, each binary rank is searched before deciding to grow.
/// 3. Exact sign search (binary coordinate descent alternating with the refit).
/// The search changes which factorization binarizes best, so `auto` searches each candidate
/// (for half the rounds) and keeps the lowest objective, which then gets the rest.
extension ModulePipeline {
    /// One factorization's working state and what it reaches.
    struct Candidate {
        var state: RefinementState
        var factorization: Factorization
        var objective: Double
    }

    /// The best candidate after steps 1–3 for `product` (`s·B·A` of the module) and `target`.
    func searched(_ product: LowRankProduct, target: RefinementTarget) -> Candidate {
        let r = product.rank
        let maximum = options.targetError == nil
            ? options.binaryRank.channels(rank: r)
            : (options.binaryRank == .multiple(1) ? 4 * r : options.binaryRank.channels(rank: r))
        var search = SignDescent(rounds: options.descentRounds)
        search.threads = threads
        let candidates = factorized(product, target: target, channels: Swift.min(maximum, r))
        var trial = search
        if candidates.count > 1 { trial.rounds = (search.rounds + 1) / 2 }
        var best: Candidate?
        for var candidate in candidates {
            if options.targetError != nil { candidate.objective = search.refine(&candidate.state, target: target) }
            while candidate.state.k < maximum {
                if let goal = options.targetError, relativeError(candidate.state, target) <= goal { break }
                let residual = LowRankProduct.difference(target.product, candidate.state.effectiveFactors())
                guard let extra = ResidualChannels(residual: residual, inputScale: candidate.state.a,
                                                   outputScale: candidate.state.b,
                                                   count: Swift.min(r, maximum - candidate.state.k)) else { break }
                candidate.state.append(signA: extra.signA, signB: extra.signB, m: extra.middle)
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
        return best!
    }

    /// Working states after factorizing, binarizing and refitting with `channels` sign channels
    /// (`channels ≤ r`; below `r`, the top directions of the balanced factorization). Without the
    /// sign search, `auto` keeps only the candidate with the lowest objective after a few refit
    /// sweeps (which then gets the rest); with it, every candidate goes on to the search.
    func factorized(_ product: LowRankProduct, target: RefinementTarget, channels: Int) -> [Candidate] {
        let factorizations: [Factorization]
        if channels < product.rank {
            factorizations = [.balanced]
        } else {
            factorizations = options.factorization == .auto ? (options.descentRounds > 0 ? Factorization.searchCandidates : Factorization.candidates) : [options.factorization]
        }
        // With the sign search, which moves a and b with the signs, no refit is needed first.
        let trialSweeps = options.descentRounds > 0 ? 0
            : factorizations.count > 1 ? Swift.min(options.refitSweeps, 2) : options.refitSweeps
        var candidates: [Candidate] = []
        for f in factorizations {
            var factors = Factorizer.apply(f, to: product, seed: options.seed)
            if channels < factors.rank { factors = factors.truncated(toRank: channels) }
            var state = initialState(factors, target: target)
            let objective = trialSweeps > 0 ? ScaleRefit.refine(&state, target: target, sweeps: trialSweeps) : state.objective(target)
            candidates.append(Candidate(state: state, factorization: f, objective: objective))
        }
        if options.descentRounds > 0 { return candidates }
        var best = candidates.min { $0.objective < $1.objective }!   // the first on ties
        if options.refitSweeps > trialSweeps {
            best.objective = ScaleRefit.refine(&best.state, target: target, sweeps: options.refitSweeps - trialSweeps)
        }
        return [best]
    }

    /// Signs and rank-1 magnitudes of `factors` as an unnormalised working state.
    func initialState(_ factors: LowRankProduct, target: RefinementTarget) -> RefinementState {
        let binary = Binarizer(scaleDType: .f32).signsAndScales(factors)
        var state = RefinementState(signA: binary.signA, signB: binary.signB, scales: binary.scales, target: target)
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
}
