/// Closed-form refinement of the scales with the signs fixed: alternating least squares.
///
/// Each update is the exact least-squares minimiser of `‖X − Y‖²_F` over one scale vector with
/// the others fixed, so the objective never increases. Every quantity comes from `k × k` and
/// `r × k` Gram matrices, so one sweep costs `O((in + out)·k·(k + r))`.
public enum ScaleRefit {
    /// Runs up to `sweeps` rounds of `m`, `b`, `a` updates (`a` only when it is not fixed),
    /// stopping early once a sweep improves the objective by less than `tolerance` (relative).
    /// Returns the objective after the last update.
    @discardableResult
    public static func refine(_ state: inout RefinementState, target: RefinementTarget,
                              sweeps: Int = 8, tolerance: Double = 1e-4) -> Double {
        var previous = Double.infinity
        for sweep in 0..<sweeps {
            // The m update also yields the objective at its solution, for free.
            let current = solveMiddle(&state, target: target)
            if sweep > 0, previous - current <= tolerance * previous { return current }
            previous = current
            solveOutput(&state, target: target)
            if !state.fixedInputScale { solveInput(&state, target: target) }
        }
        return sweeps > 0 ? solveMiddle(&state, target: target) : state.objective(target)
    }

    /// `m = argmin`: normal equations `((P·Pᵀ) ∘ (Q·Qᵀ))·m = c`, `c_j = ⟨Bᵀ·P_jᵀ, A·Q_jᵀ⟩` (the target's factors),
    /// with `P_j = S_Bj ⊙ b` and `Q_j = S_Aj ⊙ a`.
    /// Returns the objective `‖X‖² − 2mᵀc + mᵀ(normal)m` at the new `m`.
    @discardableResult
    public static func solveMiddle(_ state: inout RefinementState, target: RefinementTarget) -> Double {
        solveMiddle(&state.m, output: SideGrams(signs: state.signB, scales: state.b, target: target.product.bTransposed),
                    input: SideGrams(signs: state.signA, scales: state.a, target: target.product.a),
                    normSquared: target.normSquared)
    }

    /// The `m` update from the two sides' statistics; returns the objective at the new `m`.
    @discardableResult
    static func solveMiddle(_ m: inout [Float], output: SideGrams, input: SideGrams,
                            normSquared: Double) -> Double {
        let k = m.count
        let r = output.rank
        var normal = [Double](repeating: 0, count: k * k)
        for i in 0..<(k * k) { normal[i] = Double(output.gram[i]) * Double(input.gram[i]) }
        var rhs = [Double](repeating: 0, count: k)
        for row in 0..<r {
            for j in 0..<k { rhs[j] += Double(output.cross[row * k + j]) * Double(input.cross[row * k + j]) }
        }
        if let solution = solveSymmetric(normal, rhs, n: k) {
            m = solution.map { Float($0) }
        }
        let md = m.map(Double.init)
        var objective = normSquared
        for i in 0..<k {
            objective -= 2 * md[i] * rhs[i]
            for j in 0..<k { objective += md[i] * normal[i * k + j] * md[j] }
        }
        return Swift.max(objective, 0)
    }

    /// `b_o = ⟨X_o, Z_o⟩ / ‖Z_o‖²` per output row, `Z = (m ⊙ S_B)ᵀ·(S_A ⊙ a)`.
    static func solveOutput(_ state: inout RefinementState, target: RefinementTarget) {
        let q = state.effectiveFactors().a
        var v = state.signB
        SmallLinearAlgebra.scaleRows(&v, by: state.m)
        state.b = rowwiseLeastSquares(target: target.product.bTransposed, targetPartner: target.product.a, channels: v, partner: q,
                                      current: state.b)
    }

    /// `a_i = ⟨X_:i, Z'_:i⟩ / ‖Z'_:i‖²` per input column, `Z' = (m ⊙ S_B ⊙ b)ᵀ·S_A`.
    static func solveInput(_ state: inout RefinementState, target: RefinementTarget) {
        var p = state.signB
        SmallLinearAlgebra.scaleColumns(&p, by: state.b)
        var v = state.signA
        SmallLinearAlgebra.scaleRows(&v, by: state.m)
        state.a = rowwiseLeastSquares(target: target.product.a, targetPartner: target.product.bTransposed, channels: v, partner: p,
                                      current: state.a)
    }

    /// The per-column least-squares scale for `Y = partnerᵀ·channels` scaled by a vector along
    /// `channels`' columns, against `X = targetPartnerᵀ·target`... expressed on one side:
    /// `num_c = Σ_j channels[j,c]·W[j,c]` with `W = (targetPartner·partnerᵀ)ᵀ·target`,
    /// `den_c = Σ_j channels[j,c]·(G·channels)[j,c]` with `G = partner·partnerᵀ`.
    private static func rowwiseLeastSquares(target: Matrix, targetPartner: Matrix, channels: Matrix, partner: Matrix,
                                            current: [Float]) -> [Float] {
        let k = channels.rows
        let r = target.rows
        let cross = SmallLinearAlgebra.rowDotsFloat(targetPartner, partner)          // r × k
        var crossT = [Float](repeating: 0, count: k * r)
        for i in 0..<r { for j in 0..<k { crossT[j * r + i] = cross[i * k + j] } }
        let w = SmallLinearAlgebra.combine(crossT, rows: k, target)                     // k × n
        let g = SmallLinearAlgebra.gramFloat(partner)                     // k × k
        let u = SmallLinearAlgebra.combine(g, rows: k, channels)                         // k × n
        let n = channels.cols
        var out = current
        for c in 0..<n {
            var num: Float = 0, den: Float = 0
            for j in 0..<k {
                let v = channels.values[j * n + c]
                num += v * w.values[j * n + c]
                den += v * u.values[j * n + c]
            }
            if den > 0 { out[c] = num / den }
        }
        return out
    }

    /// Solves `A·x = b` for a symmetric positive semi-definite `A` by Cholesky with a tiny ridge;
    /// `nil` when `A` is zero.
    static func solveSymmetric(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        var trace = 0.0
        for i in 0..<n { trace += a[i * n + i] }
        guard trace > 0 else { return nil }
        var l = a
        let ridge = 1e-10 * trace / Double(n)
        for i in 0..<n { l[i * n + i] += ridge }
        for j in 0..<n {
            var d = l[j * n + j]
            for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
            guard d > 0 else { return nil }
            let root = d.squareRoot()
            l[j * n + j] = root
            for i in (j + 1)..<n {
                var s = l[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / root
            }
        }
        var y = b
        for i in 0..<n {
            for k in 0..<i { y[i] -= l[i * n + k] * y[k] }
            y[i] /= l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for k in (i + 1)..<n { y[i] -= l[k * n + i] * y[k] }
            y[i] /= l[i * n + i]
        }
        return y
    }
}

/// What the scale and sign updates need from one side of the product (`S_B` and `b` against
/// the target's `Bᵀ`, or `S_A` and `a` against its `A`): with `V = S ⊙ scales` (`[k, n]`), the Gram matrix
/// `V·Vᵀ` (`k × k`) and the cross products `side·Vᵀ` (`r × k`). Both change only when that
/// side's signs or scales do, so a round computes each once and reuses it.
struct SideGrams {
    /// `V·Vᵀ`, `k × k` row-major.
    var gram: [Float]
    /// `side·Vᵀ`, `r × k` row-major.
    var cross: [Float]
    /// `r`.
    var rank: Int

    init(signs: Matrix, scales: [Float], target side: Matrix, threads: Int = 1) {
        var v = signs
        SmallLinearAlgebra.scaleColumns(&v, by: scales)
        gram = SmallLinearAlgebra.gramFloat(v, threads: threads)
        cross = SmallLinearAlgebra.rowDotsFloat(side, v, threads: threads)
        rank = side.rows
    }

    /// `diag(m)·gram·diag(m)`: the Gram matrix of the rows `m_j·V_j`.
    func gram(scaledBy m: [Float]) -> [Float] {
        let k = m.count
        var out = gram
        for i in 0..<k { for j in 0..<k { out[i * k + j] *= m[i] * m[j] } }
        return out
    }

    /// `(cross·diag(m))ᵀ`, `k × r`: the coefficients that combine the target's other factor
    /// into `(m ⊙ V)·X` or its transpose.
    func crossTransposed(scaledBy m: [Float]) -> [Float] {
        let k = m.count, r = rank
        var out = [Float](repeating: 0, count: k * r)
        for i in 0..<r { for j in 0..<k { out[j * r + i] = cross[i * k + j] * m[j] } }
        return out
    }
}
