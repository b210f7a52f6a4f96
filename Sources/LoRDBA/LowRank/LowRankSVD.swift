/// Singular value decomposition of a product held in low-rank form, `B·A` (a `LowRankProduct`),
/// without ever forming the `out × in` matrix. Two forms serve the stages:
/// - `balanced` (BalancedFactors.swift): the factor pair `B' = U·Σ^½`, `A' = Σ^½·Vᵀ` in `Float`,
///   for the factorizer and the residual channels;
/// - `leading`: the top singular triplets in `Double`, for the SVD-truncation baseline:
///
/// 1. Orthonormal bases of the row spaces: `Bᵀ = P_L·Q_L`, `A = P_R·Q_R`, with `Q` rows
///    orthonormal (from the `k × k` Gram eigen-decomposition, then one re-orthogonalisation
///    pass in `Double`) and `P = X·Qᵀ` (projections, so nothing is divided by a small singular value).
/// 2. The core `C = P_Lᵀ·P_R` (`k_L × k_R`), so that `B·A = Q_Lᵀ·C·Q_R`.
/// 3. `CᵀC = W·Σ²·Wᵀ` (Jacobi); the `i`-th triplet is `σ_i = ‖C·w_i‖`,
///    `u_i ∝ Q_Lᵀ·C·w_i`, `v_i = Q_Rᵀ·w_i`.
///
/// The cost is `O((in + out)·k²)` plus `O(k³)` for the small eigen-problems.
enum LowRankSVD {
    /// Leading singular triplets of `B·A`, largest first.
    struct Triplets {
        /// `σ_i`, descending.
        var values: [Double]
        /// `u_i`, unit vectors of length `out`, one per triplet (triplets with `σ_i = 0` are left out).
        var u: [[Double]]
        /// `v_i`, unit vectors of length `in`.
        var v: [[Double]]
    }

    /// The leading `count` singular triplets of `B·A`, the product's scale left out (fewer when
    /// the product's rank, as far as the factors span, is smaller; zero rows and all-zero
    /// factors are fine).
    static func leading(_ count: Int, of product: LowRankProduct) -> Triplets {
        let ql = orthonormalRows(product.bTransposed)
        let qr = orthonormalRows(product.a)
        let kl = ql.rows, kr = qr.rows
        guard kl > 0, kr > 0, count > 0 else { return Triplets(values: [], u: [], v: []) }

        // P = X·Qᵀ, [k, k_Q]; then C = P_Bᵀ·P_A, [k_B, k_A].
        let pl = projections(product.bTransposed, onto: ql)
        let pr = projections(product.a, onto: qr)
        let k = product.rank
        var core = [Double](repeating: 0, count: kl * kr)
        for b in 0..<kl {
            for c in 0..<kr {
                var sum = 0.0
                for a in 0..<k { sum += pl[a * kl + b] * pr[a * kr + c] }
                core[b * kr + c] = sum
            }
        }
        let ctc = columnGram(core, rows: kl, cols: kr)
        let eigen = SmallLinearAlgebra.symmetricEigen(ctc, n: kr)
        let kept = Swift.min(count, kl, kr)
        var triplets = Triplets(values: [], u: [], v: [])
        for i in 0..<kept {
            let w = (0..<kr).map { eigen.vectors[$0 * kr + i] }
            // C·w_i and its norm σ_i.
            var cw = [Double](repeating: 0, count: kl)
            var sigmaSquared = 0.0
            for b in 0..<kl {
                var sum = 0.0
                for c in 0..<kr { sum += core[b * kr + c] * w[c] }
                cw[b] = sum
                sigmaSquared += sum * sum
            }
            let sigma = sigmaSquared.squareRoot()
            guard sigma > 0, sigma.isFinite else { break }
            triplets.values.append(sigma)
            triplets.u.append(combine(ql, cw.map { $0 / sigma }))
            triplets.v.append(combine(qr, w))
        }
        return triplets
    }

    /// `CᵀC` (`cols × cols`) of a row-major `rows × cols` core, each pair summed once over the rows.
    static func columnGram(_ core: [Double], rows: Int, cols: Int) -> [Double] {
        var ctc = [Double](repeating: 0, count: cols * cols)
        for i in 0..<cols {
            for j in i..<cols {
                var sum = 0.0
                for b in 0..<rows { sum += core[b * cols + i] * core[b * cols + j] }
                ctc[i * cols + j] = sum
                ctc[j * cols + i] = sum
            }
        }
        return ctc
    }

    /// Rows held in `Double`, `rows × cols` row-major.
    struct Rows {
        var rows: Int
        var cols: Int
        var values: [Double]
    }

    /// An orthonormal basis of the row space of `x`, as rows, in `Double`.
    ///
    /// Directions whose Gram eigenvalue is below `1e-13·λ_max` (singular values below about
    /// `3e-7·σ_max`, i.e. round-off of a `Float` Gram matrix) are dropped; a second pass on
    /// the basis' own Gram matrix restores orthogonality lost to the first pass' rounding.
    static func orthonormalRows(_ x: Matrix) -> Rows {
        let first = Rows(rows: x.rows, cols: x.cols, values: x.values.map(Double.init))
        let q1 = orthonormalise(first, relativeTolerance: 1e-13)
        return orthonormalise(q1, relativeTolerance: 1e-6)
    }

    /// `Λ^{-1/2}·Vᵀ·X` over the eigenpairs of `X·Xᵀ` above `relativeTolerance·λ_max`.
    static func orthonormalise(_ x: Rows, relativeTolerance: Double) -> Rows {
        let k = x.rows, n = x.cols
        guard k > 0, n > 0 else { return Rows(rows: 0, cols: n, values: []) }
        var gram = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in i..<k {
                let d = dot(x.values, i * n, x.values, j * n, n)
                gram[i * k + j] = d
                gram[j * k + i] = d
            }
        }
        let eigen = SmallLinearAlgebra.symmetricEigen(gram, n: k)
        let largest = eigen.values.first ?? 0
        guard largest > 0, largest.isFinite else { return Rows(rows: 0, cols: n, values: []) }
        var out: [Double] = []
        var rows = 0
        for i in 0..<k where eigen.values[i] > relativeTolerance * largest {
            let inverse = 1 / eigen.values[i].squareRoot()
            var row = [Double](repeating: 0, count: n)
            for a in 0..<k {
                let coefficient = eigen.vectors[a * k + i] * inverse
                if coefficient == 0 { continue }
                let base = a * n
                for c in 0..<n { row[c] += coefficient * x.values[base + c] }
            }
            out.append(contentsOf: row)
            rows += 1
        }
        return Rows(rows: rows, cols: n, values: out)
    }

    /// `X·Qᵀ`, `[x.rows, q.rows]`.
    static func projections(_ x: Matrix, onto q: Rows) -> [Double] {
        let n = x.cols
        var out = [Double](repeating: 0, count: x.rows * q.rows)
        let xd = x.values.map(Double.init)
        for a in 0..<x.rows {
            for b in 0..<q.rows { out[a * q.rows + b] = dot(xd, a * n, q.values, b * n, n) }
        }
        return out
    }

    /// `Σ_b coefficients[b]·q[b, :]`.
    static func combine(_ q: Rows, _ coefficients: [Double]) -> [Double] {
        var row = [Double](repeating: 0, count: q.cols)
        for b in 0..<q.rows {
            let c = coefficients[b]
            if c == 0 { continue }
            let base = b * q.cols
            for j in 0..<q.cols { row[j] += c * q.values[base + j] }
        }
        return row
    }

    static func dot(_ x: [Double], _ xStart: Int, _ y: [Double], _ yStart: Int, _ n: Int) -> Double {
        var sum = 0.0
        for i in 0..<n { sum += x[xStart + i] * y[yStart + i] }
        return sum
    }
}
