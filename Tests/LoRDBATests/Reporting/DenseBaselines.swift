@testable import LoRDBA

/// Dense reference computations for the baselines (small shapes only: they form `out × in`).
enum DenseBaselines {
    /// `scale·B·A` of a low-rank product as an `out × in` row-major array.
    static func product(_ p: LowRankProduct) -> [Double] {
        let bt = p.bTransposed, a = p.a
        var out = [Double](repeating: 0, count: bt.cols * a.cols)
        for o in 0..<bt.cols {
            for i in 0..<a.cols {
                var sum = 0.0
                for j in 0..<bt.rows { sum += Double(bt[j, o]) * Double(a[j, i]) }
                out[o * a.cols + i] = p.scale * sum
            }
        }
        return out
    }

    /// `s·B·A` of a module, densely.
    static func product(_ m: LoRAModule) -> [Double] {
        product(LowRankProduct(m))
    }

    /// `s·B̂·Â` for factors given in the module's own orientation (`B̂` `[out, r]`, `Â` `[r, in]`).
    static func product(b: Matrix, a: Matrix, scale: Double) -> [Double] {
        product(LowRankProduct(a: a, bTransposed: b.transposed(), scale: scale))
    }

    static func relativeError(_ x: [Double], _ y: [Double]) -> Double {
        var diff = 0.0, ref = 0.0
        for i in x.indices {
            diff += (x[i] - y[i]) * (x[i] - y[i])
            ref += x[i] * x[i]
        }
        return (diff / ref).squareRoot()
    }

    /// `‖M − M_k‖/‖M‖` for the best rank-`k` approximation `M_k`, from the eigenvalues of
    /// the smaller of `M·Mᵀ` and `Mᵀ·M` (Eckart–Young: the tail of `σ²`).
    static func optimalTruncationError(_ m: [Double], rows: Int, cols: Int, rank k: Int) -> Double {
        let n = min(rows, cols)
        var gram = [Double](repeating: 0, count: n * n)
        for p in 0..<n {
            for q in 0..<n {
                var sum = 0.0
                if rows <= cols {
                    for c in 0..<cols { sum += m[p * cols + c] * m[q * cols + c] }
                } else {
                    for r in 0..<rows { sum += m[r * cols + p] * m[r * cols + q] }
                }
                gram[p * n + q] = sum
            }
        }
        let values = SmallLinearAlgebra.symmetricEigen(gram, n: n).values
        let total = values.reduce(0) { $0 + max($1, 0) }
        let tail = values.dropFirst(k).reduce(0) { $0 + max($1, 0) }
        return (tail / total).squareRoot()
    }

    /// `mean|X|·sign(X)`, `sign(0) = +1`.
    static func bitDelta(_ x: Matrix) -> Matrix {
        var total = 0.0
        for v in x.values { total += Double(abs(v)) }
        let mean = Float(total / Double(x.values.count))
        return Matrix(rows: x.rows, cols: x.cols, values: x.values.map { $0 < 0 ? -mean : mean })
    }

    /// Each row as `mean|row|·sign(row)`.
    static func xnor(_ x: Matrix) -> Matrix {
        var out = x
        for r in 0..<x.rows {
            var total = 0.0
            for c in 0..<x.cols { total += Double(abs(x[r, c])) }
            let mean = Float(total / Double(x.cols))
            for c in 0..<x.cols { out[r, c] = x[r, c] < 0 ? -mean : mean }
        }
        return out
    }
}
