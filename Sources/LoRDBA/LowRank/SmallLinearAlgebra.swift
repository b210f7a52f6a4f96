import CLoRDBAKernels

/// Dense kernels for the small side of low-rank work: Gram matrices of a few long rows,
/// and eigen-decompositions of the resulting `r × r` symmetric matrices.
///
/// Every quantity about a product `B·A` is reduced to these, so nothing `out × in` is formed.
public enum SmallLinearAlgebra {
    /// `X·Yᵀ` for row-major `X` (`p × n`) and `Y` (`q × n`): the `p × q` matrix of row dot products,
    /// accumulated in `Double`.
    public static func rowDots(_ x: Matrix, _ y: Matrix) -> [Double] {
        pairsDouble(x, y, symmetric: false)
    }

    /// `X·Xᵀ` in `Double`, computing each pair once.
    public static func gram(_ x: Matrix) -> [Double] {
        pairsDouble(x, x, symmetric: true)
    }

    /// `X·Xᵀ` of `|X|` in `Double`, exactly `gram` of the absolute values without forming them.
    static func gramOfMagnitudes(_ x: Matrix) -> [Double] {
        pairsDouble(x, x, symmetric: true, absolute: true)
    }

    /// Row dot products by the C kernel (the arithmetic of `dot`, bit for bit, on every CPU path:
    /// these sums feed stored bytes through the factorizer and the magnitude fits).
    private static func pairsDouble(_ x: Matrix, _ y: Matrix, symmetric: Bool, absolute: Bool = false) -> [Double] {
        precondition(x.cols == y.cols, "row dot products need rows of one length")
        var out = [Double](repeating: 0, count: x.rows * y.rows)
        guard x.rows > 0, y.rows > 0 else { return out }
        x.values.withUnsafeBufferPointer { xp in
            y.values.withUnsafeBufferPointer { yp in
                out.withUnsafeMutableBufferPointer { op in
                    lordba_pairs_f64(xp.baseAddress, x.rows, yp.baseAddress, y.rows, x.cols, symmetric ? 1 : 0,
                                     absolute ? 1 : 0, op.baseAddress)
                }
            }
        }
        return out
    }

    /// Float row dot products by the C kernel (the arithmetic of `dotFloat`, bit for bit), in
    /// tasks of two `x` rows on up to `threads` threads when the work is large (the same values).
    private static func pairsFloat(_ x: Matrix, _ y: Matrix, symmetric: Bool, threads: Int = 1) -> [Float] {
        precondition(x.cols == y.cols, "row dot products need rows of one length")
        var out = [Float](repeating: 0, count: x.rows * y.rows)
        guard x.rows > 0, y.rows > 0 else { return out }
        let (p, q, n) = (x.rows, y.rows, x.cols)
        x.values.withUnsafeBufferPointer { xp in
            y.values.withUnsafeBufferPointer { yp in
                out.withUnsafeMutableBufferPointer { op in
                    let workers = p * q * n >= parallelWork ? threads : 1
                    guard workers > 1 else {
                        lordba_pairs_f32(xp.baseAddress, p, yp.baseAddress, q, n, symmetric ? 1 : 0, op.baseAddress)
                        return
                    }
                    // Each task writes its rows' entries (and, when symmetric, their mirrors) only.
                    nonisolated(unsafe) let (xs, ys, os) = (xp.baseAddress, yp.baseAddress, op.baseAddress)
                    ParallelLoop.run(count: (p + 1) / 2, threads: workers) { t in
                        lordba_pairs_f32_rows(xs, p, ys, q, n, symmetric ? 1 : 0, os, 2 * t, Swift.min(p, 2 * t + 2))
                    }
                }
            }
        }
        return out
    }

    /// Multiply-adds above which the float kernels split their work over threads (about 0.2 ms
    /// of work, well above the cost of handing it out).
    static let parallelWork = 1 << 21

    /// `[0, n)` in column ranges of a multiple of 8 (about four per thread), for kernels whose
    /// columns are independent.
    static func columnRanges(_ n: Int, threads: Int) -> [Range<Int>] {
        let size = Swift.max(8, ((n + 4 * threads - 1) / (4 * threads) + 7) / 8 * 8)
        return stride(from: 0, to: n, by: size).map { $0..<Swift.min(n, $0 + size) }
    }

    /// Dot product of two `Float` vectors of length `n`, accumulated in `Double` SIMD lanes so
    /// that differences of large Gram sums (errors near zero) keep their precision.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var acc0 = SIMD8<Double>()
        var acc1 = SIMD8<Double>()
        var i = 0
        while i + 16 <= n {
            let a0 = SIMD8<Double>(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            let b0 = SIMD8<Double>(rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            let a1 = SIMD8<Double>(ra.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self))
            let b1 = SIMD8<Double>(rb.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self))
            // Separate multiply and add: `addingProduct` becomes a libm `fma` call per lane
            // unless the build targets a CPU with FMA.
            acc0 += a0 * b0
            acc1 += a1 * b1
            i += 16
        }
        var total = (acc0 + acc1).sum()
        while i < n {
            total += Double(a[i]) * Double(b[i])
            i += 1
        }
        return total
    }

    /// `X·Yᵀ` accumulated in `Float` (for optimisation steps, where speed matters more than the
    /// last digits; reported errors always use the `Double` forms above).
    public static func rowDotsFloat(_ x: Matrix, _ y: Matrix, threads: Int = 1) -> [Float] {
        pairsFloat(x, y, symmetric: false, threads: threads)
    }

    /// `X·Xᵀ` accumulated in `Float`, computing each pair once.
    public static func gramFloat(_ x: Matrix, threads: Int = 1) -> [Float] {
        pairsFloat(x, x, symmetric: true, threads: threads)
    }

    /// Dot product in `Float` SIMD lanes.
    @inlinable
    public static func dotFloat(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
            i += 16
        }
        var total = (acc0 + acc1).sum()
        while i < n {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// `C·X` for a row-major `p × q` coefficient array `c` and a `q × n` matrix: each output row
    /// is a combination of the rows of `X` (`lordba_combine`: eight columns at a time in SIMD
    /// lanes, each element summed over the rows of `X` in order), in column ranges on up to
    /// `threads` threads when the work is large (the same values).
    public static func combine(_ c: [Float], rows p: Int, _ x: Matrix, threads: Int = 1) -> Matrix {
        let q = x.rows
        let n = x.cols
        precondition(c.count == p * q, "combine: coefficients do not match")
        var out = Matrix(rows: p, cols: n)
        guard p > 0, q > 0, n > 0 else { return out }
        c.withUnsafeBufferPointer { cp in
            x.values.withUnsafeBufferPointer { xp in
                out.values.withUnsafeMutableBufferPointer { op in
                    let workers = p * q * n >= parallelWork ? threads : 1
                    guard workers > 1 else {
                        lordba_combine(cp.baseAddress, p, xp.baseAddress, q, n, n, op.baseAddress)
                        return
                    }
                    nonisolated(unsafe) let (cs, xs, os) = (cp.baseAddress, xp.baseAddress!, op.baseAddress!)
                    let ranges = columnRanges(n, threads: workers)
                    ParallelLoop.run(count: ranges.count, threads: workers) { t in
                        let r = ranges[t]
                        lordba_combine(cs, p, xs + r.lowerBound, q, r.count, n, os + r.lowerBound)
                    }
                }
            }
        }
        return out
    }

    /// `⟨X, Y⟩ = Σ X_ij Y_ij` for two matrices stored as flat arrays of equal length.
    public static func frobeniusInner(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        var s = 0.0
        for i in 0..<x.count { s += x[i] * y[i] }
        return s
    }

    /// Eigen-decomposition of a symmetric `n × n` matrix by cyclic Jacobi rotations.
    ///
    /// Returns eigenvalues in descending order and the matching unit eigenvectors as the
    /// columns of a row-major `n × n` array. Accurate to working precision; `n` is a rank (≤ a few hundred).
    public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        precondition(matrix.count == n * n)
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        if n > 1 {
            a.withUnsafeMutableBufferPointer { ap in
                v.withUnsafeMutableBufferPointer { vp in
                    // Cyclic sweeps until the off-diagonal mass is negligible (at most 100), in C:
                    // the same operations in the same order as ever (the fits' scales depend on them).
                    lordba_jacobi(ap.baseAddress!, vp.baseAddress!, n)
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] }
        let values = order.map { a[$0 * n + $0] }
        var vectors = [Double](repeating: 0, count: n * n)
        for (newCol, oldCol) in order.enumerated() {
            for k in 0..<n { vectors[k * n + newCol] = v[k * n + oldCol] }
        }
        return (values, vectors)
    }

    /// `M·diag(v)`: column `c` times `v[c]`, in place.
    static func scaleColumns(_ m: inout Matrix, by v: [Float]) {
        let n = m.cols
        precondition(v.count >= n, "scaleColumns: one scale per column")
        guard n > 0 else { return }
        m.values.withUnsafeMutableBufferPointer { p in
            v.withUnsafeBufferPointer { vp in
                // Row pointers without index arithmetic in the loop, so that it vectorises.
                let scales = vp.baseAddress!
                for j in 0..<m.rows {
                    let row = p.baseAddress! + j * n
                    for c in 0..<n { row[c] *= scales[c] }
                }
            }
        }
    }

    /// `diag(v)·M`: row `j` times `v[j]`, in place.
    static func scaleRows(_ m: inout Matrix, by v: [Float]) {
        let n = m.cols
        precondition(v.count >= m.rows, "scaleRows: one scale per row")
        guard n > 0 else { return }
        m.values.withUnsafeMutableBufferPointer { p in
            for j in 0..<m.rows {
                let s = v[j], row = p.baseAddress! + j * n
                for c in 0..<n { row[c] *= s }
            }
        }
    }
}
