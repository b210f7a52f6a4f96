import CLoRDBAKernels

/// Exact sign search by binary coordinate descent (BCD), alternating with the closed-form scale
/// refit.
///
/// With the scales and the other sign matrix fixed, the stored product is linear in each input
/// column of `S_A` (and each output row of `S_B`), so every column is an independent
/// `k`-dimensional binary least-squares problem:
///
/// `min_s  a_i²·sᵀGs − 2a_i·sᵀc_i`,  `G = PᵀP`,  `c_i = Pᵀ·X[:, i]`,  `P = diag(b)·S_Bᵀ·diag(m)`.
///
/// It is solved by coordinate flips: flipping `s_j` changes the objective by
/// `4a_i²(G_jj − s_j(Gs)_j) + 4a_i·s_j·c_ij`; each negative change is taken and `Gs` updated with
/// one column of `G`. `G` (`k × k`) and `C = Pᵀ·X` (`k × in`, computed as `(Bᵀ·P)ᵀ·A` from the
/// low-rank target) cost `O(k·(k + r)·(in + out))` per round; nothing `out × in` is formed.
/// Rows of `S_B` are the same problem on the transposed product. Each flip, and each refit, lowers
/// the objective, and the best iterate is kept, so the result is never worse than the start.
///
/// With calibration weights the target is `X·diag(√d)` and the state's `a` is `a ⊙ √d` (see
/// `RefinementTarget`), so the weighted objective is the same problem and costs nothing extra.
public struct SignDescent: Sendable {
    /// Rounds of (columns of `S_A`, rows of `S_B`, scale refit).
    public var rounds: Int
    /// Extra closed-form refit sweeps after each round (the flips already move `a` and `b` to
    /// their optima and `m` is solved after each half; measured on the samples, extra sweeps
    /// change the median error by under 0.002).
    public var refitSweeps: Int
    /// Flip sweeps over one column's `k` coordinates, at most (it usually settles in 2–3).
    public var maximumSweeps = 8
    /// A round that lowers the objective by less than this (relative) ends the search.
    public var tolerance = 1e-4
    /// Threads for one module's search (its columns and Gram products split over them when the
    /// work is large); the result is the same for any number.
    public var threads = 1

    /// Rounds when none are asked for: measured on the samples, 4 rounds reach within 0.5 % of
    /// the error 12 rounds reach (see the quality table in docs/fidelity.md).
    public static let defaultRounds = 4

    public init(rounds: Int = SignDescent.defaultRounds, refitSweeps: Int = 0) {
        self.rounds = rounds
        self.refitSweeps = refitSweeps
    }

    /// Refines the signs of `state` (and its scales) towards `target`; returns the best
    /// objective `‖X − Y‖²`, whose state is left in `state`.
    ///
    /// A round: the columns of `S_A` with `a`, then `m`; the rows of `S_B` with `b`, then `m`.
    /// Each side's statistics are computed once per round and shared by the flips of the other
    /// side and the `m` solves.
    @discardableResult
    public func refine(_ state: inout RefinementState, target: RefinementTarget) -> Double {
        guard rounds > 0, state.k > 0 else { return state.objective(target) }
        var current = state
        var output = SideGrams(signs: current.signB, scales: current.b, target: target.product.bTransposed, threads: threads)
        var input = SideGrams(signs: current.signA, scales: current.a, target: target.product.a, threads: threads)
        var bestObjective = ScaleRefit.solveMiddle(&current.m, output: output, input: input, normSquared: target.normSquared)
        var best = current
        for _ in 0..<rounds {
            // Columns of S_A: G = PᵀP = diag(m)·G_B·diag(m), C = Pᵀ·X = (Bᵀ·P)ᵀ·A (the target's factors).
            Self.descend(&current.signA, scales: &current.a, fixedScales: current.fixedInputScale,
                         gram: output.gram(scaledBy: current.m),
                         cross: SmallLinearAlgebra.combine(output.crossTransposed(scaledBy: current.m),
                                                           rows: current.k, target.product.a, threads: threads),
                         maximumSweeps: maximumSweeps, threads: threads)
            input = SideGrams(signs: current.signA, scales: current.a, target: target.product.a, threads: threads)
            ScaleRefit.solveMiddle(&current.m, output: output, input: input, normSquared: target.normSquared)
            // Rows of S_B: G = Q·Qᵀ = diag(m)·G_A·diag(m), C = Q·Xᵀ = (A·Qᵀ)ᵀ·Bᵀ.
            Self.descend(&current.signB, scales: &current.b, fixedScales: false,
                         gram: input.gram(scaledBy: current.m),
                         cross: SmallLinearAlgebra.combine(input.crossTransposed(scaledBy: current.m),
                                                           rows: current.k, target.product.bTransposed, threads: threads),
                         maximumSweeps: maximumSweeps, threads: threads)
            output = SideGrams(signs: current.signB, scales: current.b, target: target.product.bTransposed, threads: threads)
            var objective = ScaleRefit.solveMiddle(&current.m, output: output, input: input,
                                                   normSquared: target.normSquared)
            if refitSweeps > 0 {
                objective = ScaleRefit.refine(&current, target: target, sweeps: refitSweeps)
                output = SideGrams(signs: current.signB, scales: current.b, target: target.product.bTransposed, threads: threads)
                input = SideGrams(signs: current.signA, scales: current.a, target: target.product.a, threads: threads)
            }
            let enough = bestObjective - objective > tolerance * bestObjective
            if objective < bestObjective {
                best = current
                bestObjective = objective
            }
            if !enough { break }
        }
        state = best
        return bestObjective
    }

    /// One pass over the input columns of `S_A` (with `a`, unless it is fixed) against
    /// `P = diag(b)·S_Bᵀ·diag(m)`. Returns the number of flips.
    @discardableResult
    static func descendInputColumns(_ state: inout RefinementState, target: RefinementTarget,
                                    maximumSweeps: Int = 8) -> Int {
        let output = SideGrams(signs: state.signB, scales: state.b, target: target.product.bTransposed)
        return descend(&state.signA, scales: &state.a, fixedScales: state.fixedInputScale,
                       gram: output.gram(scaledBy: state.m),
                       cross: SmallLinearAlgebra.combine(output.crossTransposed(scaledBy: state.m), rows: state.k, target.product.a),
                       maximumSweeps: maximumSweeps)
    }

    /// One pass over the output rows of `S_B` (with `b`) against `Q = diag(m)·S_A·diag(a)`.
    @discardableResult
    static func descendOutputRows(_ state: inout RefinementState, target: RefinementTarget,
                                  maximumSweeps: Int = 8) -> Int {
        let input = SideGrams(signs: state.signA, scales: state.a, target: target.product.a)
        return descend(&state.signB, scales: &state.b, fixedScales: false,
                       gram: input.gram(scaledBy: state.m),
                       cross: SmallLinearAlgebra.combine(input.crossTransposed(scaledBy: state.m), rows: state.k, target.product.bTransposed),
                       maximumSweeps: maximumSweeps)
    }

    /// Coordinate flips on every column of `signs` (`[k, n]`, ±1) against `gram` (`G`, `k × k`)
    /// and `cross` (`C`, `[k, n]`); returns the number of flips.
    ///
    /// With `fixedScales`, column `i` minimises `a_i²·sᵀGs − 2a_i·sᵀc_i` and a flip of `s_j` is
    /// taken when it changes that by `4a_i²(G_jj − s_j(Gs)_j) + 4a_i·s_j·c_ij < 0`. Otherwise the
    /// scale moves with the signs: at its optimum `a = sᵀc/sᵀGs` the column's objective is
    /// `−(sᵀc)²/(sᵀGs)`, a flip is taken when it raises `(sᵀc)²/(sᵀGs)` by more than a factor
    /// `1 + 1e-6`, and `a_i` is then set to that optimum (what the refit would give it). `Gs`
    /// starts as one product for all columns and is updated with one column of `G` per flip;
    /// a column stops after a sweep without flips, or after `maximumSweeps`.
    ///
    /// In C (`lordba_sign_descent`): eight columns at a time in SIMD lanes, each lane exactly the
    /// scalar algorithm (`SignDescentReference` in the tests keeps the scalar form).
    @discardableResult
    static func descend(_ signs: inout Matrix, scales: inout [Float], fixedScales: Bool, gram: [Float],
                        cross: Matrix, maximumSweeps: Int, threads: Int = 1) -> Int {
        let k = signs.rows, n = signs.cols
        precondition(scales.count == n && cross.rows == k && cross.cols == n && gram.count == k * k)
        guard k > 0, n > 0 else { return 0 }
        let product = SmallLinearAlgebra.combine(gram, rows: k, signs, threads: threads)   // G·S for every column
        let threshold: Float = 1 + 1e-6
        // Columns are independent: ranges of them run in parallel when the work is large.
        let workers = k * k * n >= SmallLinearAlgebra.parallelWork ? threads : 1
        let ranges = workers > 1 ? SmallLinearAlgebra.columnRanges(n, threads: workers) : [0..<n]
        return signs.values.withUnsafeMutableBufferPointer { sp in
            scales.withUnsafeMutableBufferPointer { ap in
                cross.values.withUnsafeBufferPointer { cp in
                    product.values.withUnsafeBufferPointer { pp in
                        nonisolated(unsafe) let (s, a, c, g) = (sp.baseAddress!, ap.baseAddress!, cp.baseAddress!, pp.baseAddress!)
                        let flips = ParallelLoop.map(count: ranges.count, threads: workers) { t in
                            let r = ranges[t], o = r.lowerBound
                            return Int(lordba_sign_descent(s + o, a + o, fixedScales ? 1 : 0, gram, c + o, g + o,
                                                           k, r.count, n, Int32(maximumSweeps), threshold))
                        }
                        return flips.reduce(0, +)
                    }
                }
            }
        }
    }
}
