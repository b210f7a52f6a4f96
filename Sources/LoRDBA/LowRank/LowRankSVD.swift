/// Singular value decomposition of a product held in low-rank form, `B·A` (a `LowRankProduct`),
/// without ever forming the `out × in` matrix: the SVD-balanced factor pair
/// (`balanced`, BalancedFactors.swift) serves the factorizer, the residual channels and the
/// SVD-truncation baseline. The cost is `O((in + out)·r²)` plus `O(r³)` for the small
/// eigen-problems.
enum LowRankSVD {
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
}
