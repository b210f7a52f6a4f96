/// How the factor pair `(B, A)` of a module is chosen before binarizing.
///
/// `B·A = (B·G)·(G⁻¹·A)` for any invertible `r × r` matrix `G`, and how much binarization loses
/// depends on that choice: the signs and magnitude envelopes of the two factors change with it.
public enum Factorization: String, Sendable, CaseIterable {
    /// The factors as trained.
    case asIs = "as-is"
    /// The SVD-balanced pair `B' = U·Σ^½`, `A' = Σ^½·Vᵀ` (both factors carry the same spectrum).
    case balanced
    /// Balanced, then the rank channels mixed by an orthogonal matrix (normalised Hadamard when
    /// the rank is a power of two, else a seeded random orthogonal matrix).
    case rotated
    /// Try the three and keep, per module, the one with the lowest product error.
    case auto

    /// The concrete factorizations `auto` tries, in order of preference on ties.
    public static let candidates: [Factorization] = [.asIs, .balanced, .rotated]

    /// The factorizations `auto` carries through the sign search (each is searched, the best
    /// kept): after the search the rotated pair rarely wins (1 module of 40 on the samples)
    /// and costs a third more time.
    public static let searchCandidates: [Factorization] = [.asIs, .balanced]
}

/// Re-factors a LoRA module without changing its product, in `O((in + out)·r²)`.
///
/// Works on the rank-major rows (`A` `[r, in]`, `Bᵀ` `[r, out]`): each set of rows is made
/// orthonormal through the eigen-decomposition of its `r × r` Gram matrix, the `r × r` core
/// between them is decomposed by SVD, and the new factors are small linear combinations of the
/// old rows. Nothing `out × in` is formed.
public enum Factorizer {
    /// The module re-factored as `factorization` says (`auto` is not a single factorization: it
    /// returns the module unchanged; use `Factorization.candidates`).
    public static func apply(_ factorization: Factorization, to module: LoRAModule, seed: UInt64 = 0) -> LoRAModule {
        switch factorization {
        case .asIs, .auto: module
        case .balanced: balanced(module)
        case .rotated: rotated(module, seed: seed)
        }
    }

    /// `B' = Q_B·U·Σ^½`, `A' = Σ^½·Vᵀ·Q_Aᵀ` where `Q_B R_B = B`, `Q_A R_A = Aᵀ` and `R_B R_Aᵀ = U Σ Vᵀ`.
    /// Directions with no energy are dropped, so the rank may shrink (never grows).
    public static func balanced(_ module: LoRAModule) -> LoRAModule {
        let (tb, ta, q) = balancingTransforms(module)
        return refactored(module, leftTransform: tb, rightTransform: ta, rank: q)
    }

    /// Balanced, then rotated by an orthogonal `H`: `B'' = B'·H`, `A'' = Hᵀ·A'`.
    public static func rotated(_ module: LoRAModule, seed: UInt64 = 0) -> LoRAModule {
        let (tb, ta, q) = balancingTransforms(module)
        guard q > 1 else { return refactored(module, leftTransform: tb, rightTransform: ta, rank: q) }
        let h = orthogonalMix(q, seed: seed)
        // Rank-major rows transform by Hᵀ: new rows = Hᵀ·(T·old rows).
        func mixed(_ t: [Double]) -> [Double] {
            let r = module.rank
            var out = [Double](repeating: 0, count: q * r)
            for i in 0..<q {
                for j in 0..<q {
                    let w = h[j * q + i]   // (Hᵀ)[i, j]
                    if w == 0 { continue }
                    for c in 0..<r { out[i * r + c] += w * t[j * r + c] }
                }
            }
            return out
        }
        return refactored(module, leftTransform: mixed(tb), rightTransform: mixed(ta), rank: q)
    }

    /// Transforms `T_B` (`q × r`) and `T_A` (`q × r`) with new rank-major rows `T_B·Bᵀ` and `T_A·A`.
    static func balancingTransforms(_ module: LoRAModule) -> (left: [Double], right: [Double], rank: Int) {
        let r = module.rank
        let bRows = module.b.transposed()
        let (vb, db) = significantEigen(SmallLinearAlgebra.gram(bRows), n: r)
        let (va, da) = significantEigen(SmallLinearAlgebra.gram(module.a), n: r)
        let rb = db.count, ra = da.count
        guard rb > 0, ra > 0 else { return ([], [], 0) }
        // Rows Q_b = D_b^-½·V_bᵀ·Bᵀ are orthonormal and Bᵀ = V_b·D_b^½·Q_b (likewise for A),
        // so B·A = Q_bᵀ·C·Q_a with the core C = D_b^½·V_bᵀ·V_a·D_a^½ (rb × ra).
        var core = [Double](repeating: 0, count: rb * ra)
        for i in 0..<rb {
            for j in 0..<ra {
                var dot = 0.0
                for c in 0..<r { dot += vb[c * rb + i] * va[c * ra + j] }
                core[i * ra + j] = db[i].squareRoot() * dot * da[j].squareRoot()
            }
        }
        // SVD of the core from the eigen-decomposition of CᵀC: C = U·Σ·Wᵀ, U = C·W·Σ⁻¹.
        var ctc = [Double](repeating: 0, count: ra * ra)
        for i in 0..<ra {
            for j in 0..<ra {
                var s = 0.0
                for k in 0..<rb { s += core[k * ra + i] * core[k * ra + j] }
                ctc[i * ra + j] = s
            }
        }
        let (w, sigma2) = significantEigen(ctc, n: ra)
        let q = sigma2.count
        guard q > 0 else { return ([], [], 0) }
        let sigma = sigma2.map { $0.squareRoot() }
        // U (rb × q)
        var u = [Double](repeating: 0, count: rb * q)
        for i in 0..<rb {
            for t in 0..<q {
                var s = 0.0
                for j in 0..<ra { s += core[i * ra + j] * w[j * q + t] }
                u[i * q + t] = s / sigma[t]
            }
        }
        // New B rows: Σ^½·Uᵀ·Q_b = Σ^½·Uᵀ·D_b^-½·V_bᵀ·Bᵀ → T_B = Σ^½·Uᵀ·D_b^-½·V_bᵀ (q × r).
        var left = [Double](repeating: 0, count: q * r)
        var right = [Double](repeating: 0, count: q * r)
        for t in 0..<q {
            let root = sigma[t].squareRoot()
            for c in 0..<r {
                var sb = 0.0
                for i in 0..<rb { sb += u[i * q + t] / db[i].squareRoot() * vb[c * rb + i] }
                left[t * r + c] = root * sb
                var sa = 0.0
                for j in 0..<ra { sa += w[j * q + t] / da[j].squareRoot() * va[c * ra + j] }
                right[t * r + c] = root * sa
            }
        }
        return (left, right, q)
    }

    /// Eigenvectors (columns, `n × m`) and eigenvalues of the `m` eigenvalues above `1e-12·λ_max`.
    static func significantEigen(_ matrix: [Double], n: Int) -> (vectors: [Double], values: [Double]) {
        guard n > 0 else { return ([], []) }
        let (values, vectors) = SmallLinearAlgebra.symmetricEigen(matrix, n: n)
        let top = Swift.max(values[0], 0)
        let m = top > 0 ? values.prefix { $0 > 1e-12 * top }.count : 0
        var kept = [Double](repeating: 0, count: n * m)
        for row in 0..<n {
            for col in 0..<m { kept[row * m + col] = vectors[row * n + col] }
        }
        return (kept, Array(values.prefix(m)))
    }

    static func refactored(_ module: LoRAModule, leftTransform: [Double], rightTransform: [Double], rank q: Int) -> LoRAModule {
        let bRows = module.b.transposed()
        guard q > 0 else {
            // A zero adapter: keep one zero channel so the module stays well-formed.
            return LoRAModule(name: module.name, kind: module.kind, a: Matrix(rows: 1, cols: module.inFeatures),
                              b: Matrix(rows: module.outFeatures, cols: 1), scale: module.scale, source: module.source)
        }
        let newB = SmallLinearAlgebra.combine(leftTransform.map(Float.init), rows: q, bRows)
        let newA = SmallLinearAlgebra.combine(rightTransform.map(Float.init), rows: q, module.a)
        return LoRAModule(name: module.name, kind: module.kind, a: newA, b: newB.transposed(),
                          scale: module.scale, source: module.source)
    }

    /// An orthogonal `n × n` matrix: the normalised Sylvester–Hadamard matrix for powers of two,
    /// otherwise Gram–Schmidt on a seeded Gaussian matrix.
    public static func orthogonalMix(_ n: Int, seed: UInt64) -> [Double] {
        if n > 0, n & (n - 1) == 0 {
            var h = [1.0]
            var size = 1
            while size < n {
                var next = [Double](repeating: 0, count: 4 * size * size)
                for i in 0..<size {
                    for j in 0..<size {
                        let v = h[i * size + j]
                        next[i * 2 * size + j] = v
                        next[i * 2 * size + j + size] = v
                        next[(i + size) * 2 * size + j] = v
                        next[(i + size) * 2 * size + j + size] = -v
                    }
                }
                h = next
                size *= 2
            }
            let norm = 1 / Double(n).squareRoot()
            return h.map { $0 * norm }
        }
        var rng = SeededGenerator(seed: seed)
        var m = (0..<(n * n)).map { _ in Double(rng.nextGaussian()) }
        for i in 0..<n {
            for _ in 0..<2 {   // Gram–Schmidt twice: orthogonal to working precision
                for j in 0..<i {
                    var d = 0.0
                    for c in 0..<n { d += m[i * n + c] * m[j * n + c] }
                    for c in 0..<n { m[i * n + c] -= d * m[j * n + c] }
                }
            }
            var norm = 0.0
            for c in 0..<n { norm += m[i * n + c] * m[i * n + c] }
            norm = norm.squareRoot()
            for c in 0..<n { m[i * n + c] /= norm }
        }
        return m
    }
}
