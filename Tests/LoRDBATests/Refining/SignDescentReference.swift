import Testing
@testable import LoRDBA

/// The scalar Swift forms of the sign-search kernels, as they were before they moved to C
/// (`lordba_combine`, `lordba_sign_descent`): the C kernels must reproduce them bit for bit.
enum SignDescentReference {
    /// `C·X` for a row-major `p × q` coefficient array `c` and a `q × n` matrix: each output row
    /// is a combination of the rows of `X`. Eight columns at a time, the `q` input vectors are
    /// loaded once and every output row is accumulated in registers and stored once.
    static func combine(_ c: [Float], rows p: Int, _ x: Matrix) -> Matrix {
        let q = x.rows
        let n = x.cols
        precondition(c.count == p * q, "combine: coefficients do not match")
        var out = Matrix(rows: p, cols: n)
        guard p > 0, q > 0, n > 0 else { return out }
        let inputs = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: q)
        defer { inputs.deallocate() }
        c.withUnsafeBufferPointer { cp in
            x.values.withUnsafeBufferPointer { xp in
                out.values.withUnsafeMutableBufferPointer { op in
                    let xr = UnsafeRawPointer(xp.baseAddress!)
                    let orow = UnsafeMutableRawPointer(op.baseAddress!)
                    let coefficients = cp.baseAddress!
                    var col = 0
                    while col + 8 <= n {
                        for l in 0..<q { inputs[l] = xr.loadUnaligned(fromByteOffset: (l * n + col) * 4, as: SIMD8<Float>.self) }
                        for j in 0..<p {
                            var acc = SIMD8<Float>()
                            let cj = coefficients + j * q
                            for l in 0..<q { acc += cj[l] * inputs[l] }
                            orow.storeBytes(of: acc, toByteOffset: (j * n + col) * 4, as: SIMD8<Float>.self)
                        }
                        col += 8
                    }
                    while col < n {
                        for j in 0..<p {
                            var acc: Float = 0
                            for l in 0..<q { acc += coefficients[j * q + l] * xp[l * n + col] }
                            op[j * n + col] = acc
                        }
                        col += 1
                    }
                }
            }
        }
        return out
    }

    /// Coordinate flips on every column of `signs` (`[k, n]`, ±1) against `gram` (`G`, `k × k`)
    /// and `cross` (`C`, `[k, n]`); returns the number of flips.
    ///
    /// With `fixedScales`, column `i` minimises `a_i²·sᵀGs − 2a_i·sᵀc_i` and a flip of `s_j` is
    /// taken when it changes that by `4a_i²(G_jj − s_j(Gs)_j) + 4a_i·s_j·c_ij < 0`. Otherwise the
    /// scale moves with the signs: at its optimum `a = sᵀc/sᵀGs` the column's objective is
    /// `−(sᵀc)²/(sᵀGs)`, a flip is taken when it raises `(sᵀc)²/(sᵀGs)`, and `a_i` is then set to
    /// that optimum (what the refit would give it). `Gs` starts as one product for all columns
    /// and is updated with one column of `G` per flip.
    static func descend(_ signs: inout Matrix, scales: inout [Float], fixedScales: Bool, gram: [Float],
                        cross: Matrix, maximumSweeps: Int) -> Int {
        let k = signs.rows, n = signs.cols
        precondition(scales.count == n && cross.rows == k && cross.cols == n && gram.count == k * k)
        var flips = 0
        // One column's signs, Gs and c, in scratch memory (the hot loop: no array checks).
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * Swift.max(k, 1))
        defer { scratch.deallocate() }
        let s = scratch, gs = scratch + k, c = scratch + 2 * k
        let product = combine(gram, rows: k, signs)     // G·S for every column at once
        signs.values.withUnsafeMutableBufferPointer { sp in
            cross.values.withUnsafeBufferPointer { cp in
                gram.withUnsafeBufferPointer { g in
                  product.values.withUnsafeBufferPointer { gsp in
                    for i in 0..<n {
                        let a = scales[i]
                        if fixedScales && (a == 0 || !a.isFinite) { continue }
                        var u: Float = 0, v: Float = 0                    // sᵀc and sᵀGs
                        for j in 0..<k {
                            s[j] = sp[j * n + i]
                            c[j] = cp[j * n + i]
                            gs[j] = gsp[j * n + i]
                            u += s[j] * c[j]
                            v += s[j] * gs[j]
                        }
                        if !fixedScales && !(v > 0 && u != 0) { continue }
                        let a2 = a * a
                        var changed = false
                        for _ in 0..<maximumSweeps {
                            var flipped = false
                            for j in 0..<k {
                                let u2 = u - 2 * s[j] * c[j]
                                let v2 = v - 4 * s[j] * gs[j] + 4 * g[j * k + j]
                                let better = fixedScales
                                    ? a2 * (g[j * k + j] - s[j] * gs[j]) + a * s[j] * c[j] < 0
                                    : v2 > 0 && u2 * u2 * v > u * u * v2 * (1 + 1e-6)   // u2²/v2 > u²/v
                                if better {
                                    s[j] = -s[j]
                                    let twice = 2 * s[j]
                                    for l in 0..<k { gs[l] += twice * g[l * k + j] }
                                    u = u2
                                    v = v2
                                    flipped = true
                                    flips += 1
                                }
                            }
                            if !flipped { break }
                            changed = true
                        }
                        if changed {
                            for j in 0..<k { sp[j * n + i] = s[j] }
                        }
                        if !fixedScales { scales[i] = u / v }
                    }
                  }
                }
            }
        }
        return flips
    }
}
