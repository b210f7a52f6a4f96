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

/// Re-factors a low-rank product without changing it, in `O((in + out)·r²)`, through
/// `LowRankSVD.balanced` (nothing `out × in` is formed).
public enum Factorizer {
    /// The product re-factored as `factorization` says (`auto` is not a single factorization: it
    /// returns the product unchanged; use `Factorization.candidates`).
    public static func apply(_ factorization: Factorization, to product: LowRankProduct, seed: UInt64 = PipelineOptions.defaultSeed) -> LowRankProduct {
        switch factorization {
        case .asIs, .auto: product
        case .balanced: LowRankSVD.balanced(product)
        case .rotated: rotated(product, seed: seed)
        }
    }

    /// Balanced, then rotated by an orthogonal `H`: `B'' = B'·H`, `A'' = Hᵀ·A'`.
    public static func rotated(_ product: LowRankProduct, seed: UInt64 = PipelineOptions.defaultSeed) -> LowRankProduct {
        var transform = LowRankSVD.balancingTransform(of: product)
        let q = transform.rank
        guard q > 1 else { return transform.applied(to: product) }
        let h = orthogonalMix(q, seed: seed)
        // Rank-major rows transform by Hᵀ: new rows = Hᵀ·(T·old rows).
        func mixed(_ t: [Double]) -> [Double] {
            let r = product.rank
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
        transform.b = mixed(transform.b)
        transform.a = mixed(transform.a)
        return transform.applied(to: product)
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
