/// The SVD-balanced factor pair of a low-rank product, in `O((in + out)·r²)`.
///
/// Works on the rank-major rows (`A` `[r, in]`, `Bᵀ` `[r, out]`): each set of rows is made
/// orthonormal through the eigen-decomposition of its `r × r` Gram matrix, the `r × r` core
/// between them is decomposed by SVD, and the new factors are small linear combinations of the
/// old rows (`Float` arithmetic on the factors, `Double` on the `r × r` side).
extension LowRankSVD {
    /// `B' = Q_B·U·Σ^½`, `A' = Σ^½·Vᵀ·Q_Aᵀ` where `Q_B R_B = B`, `Q_A R_A = Aᵀ` and `R_B R_Aᵀ = U Σ Vᵀ`:
    /// channels in descending singular value, the product's scale kept apart. Directions with
    /// no energy are dropped, so the rank may shrink (never grows).
    static func balanced(_ product: LowRankProduct) -> LowRankProduct {
        balancingTransform(of: product).applied(to: product)
    }

    /// New rank-major rows as combinations of a product's old ones: `T_B·Bᵀ` and `T_A·A`.
    struct Transform {
        /// `T_B`, `rank × r` row-major.
        var b: [Double]
        /// `T_A`, `rank × r` row-major.
        var a: [Double]
        /// The new rank `q`.
        var rank: Int

        /// The product with factors `T_B·Bᵀ` and `T_A·A`; a zero product (rank 0) keeps one
        /// zero channel so a module built from it stays well-formed.
        func applied(to product: LowRankProduct) -> LowRankProduct {
            guard rank > 0 else {
                return LowRankProduct(a: Matrix(rows: 1, cols: product.inFeatures),
                                      bTransposed: Matrix(rows: 1, cols: product.outFeatures), scale: product.scale)
            }
            return LowRankProduct(a: SmallLinearAlgebra.combine(a.map(Float.init), rows: rank, product.a),
                                  bTransposed: SmallLinearAlgebra.combine(b.map(Float.init), rows: rank, product.bTransposed),
                                  scale: product.scale)
        }
    }

    /// The transform to the balanced pair.
    static func balancingTransform(of product: LowRankProduct) -> Transform {
        let r = product.rank
        let (vb, db) = significantEigen(SmallLinearAlgebra.gram(product.bTransposed), n: r)
        let (va, da) = significantEigen(SmallLinearAlgebra.gram(product.a), n: r)
        let rb = db.count, ra = da.count
        guard rb > 0, ra > 0 else { return Transform(b: [], a: [], rank: 0) }
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
        let ctc = columnGram(core, rows: rb, cols: ra)
        let (w, sigma2) = significantEigen(ctc, n: ra)
        let q = sigma2.count
        guard q > 0 else { return Transform(b: [], a: [], rank: 0) }
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
        var tb = [Double](repeating: 0, count: q * r)
        var ta = [Double](repeating: 0, count: q * r)
        for t in 0..<q {
            let root = sigma[t].squareRoot()
            for c in 0..<r {
                var sb = 0.0
                for i in 0..<rb { sb += u[i * q + t] / db[i].squareRoot() * vb[c * rb + i] }
                tb[t * r + c] = root * sb
                var sa = 0.0
                for j in 0..<ra { sa += w[j * q + t] / da[j].squareRoot() * va[c * ra + j] }
                ta[t * r + c] = root * sa
            }
        }
        return Transform(b: tb, a: ta, rank: q)
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
}

extension LowRankProduct {
    /// The first `rank` channels (for factors ordered by importance, such as the balanced
    /// pair's, the best rank-`rank` part).
    public func truncated(toRank rank: Int) -> LowRankProduct {
        precondition(rank >= 0 && rank <= self.rank, "truncation rank out of range")
        return LowRankProduct(a: Matrix(rows: rank, cols: inFeatures, values: Array(a.values.prefix(rank * inFeatures))),
                              bTransposed: Matrix(rows: rank, cols: outFeatures,
                                                  values: Array(bTransposed.values.prefix(rank * outFeatures))),
                              scale: scale)
    }
}
