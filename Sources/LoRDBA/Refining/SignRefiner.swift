/// Short straight-through-estimator training of the signs and scales of one module.
///
/// Latent real matrices carry the signs (`S = sign(L)`, `sign(0) = +1`); the loss is
/// `‖X − Y‖²_F` in low-rank form; gradients reach the latents through `sign` by the clipped
/// straight-through estimator (`∂S/∂L = 1` where `|L| ≤ 1`, else 0) and Adam updates latents
/// and scales. The best iterate seen is returned, so the result is never worse than the start.
/// Everything runs in a fixed order on one thread: the result depends only on the inputs.
public struct SignRefiner: Sendable {
    /// Adam steps.
    public var steps: Int
    /// Step size for the latents (which start in `[-½, ½]`).
    public var latentRate: Float = 1e-2
    /// Step size for scale vectors, relative to each vector's mean magnitude at the start.
    public var scaleRate: Float = 1e-2

    public init(steps: Int) {
        self.steps = steps
    }

    /// Refines `state` towards `target`; `latent` (`A` `[k, in]`, `Bᵀ` `[k, out]`) seeds the
    /// latents — its signs must equal the state's signs (see `aligned(_:with:)`). Returns the
    /// best objective.
    @discardableResult
    public func refine(_ state: inout RefinementState, target: RefinementTarget, latent: LowRankProduct) -> Double {
        var la = Self.normalisedLatent(latent.a)
        var lb = Self.normalisedLatent(latent.bTransposed)
        var best = state
        var bestLoss = Double.infinity
        let rateA = scaleRate * mean(state.a)
        let rateM = scaleRate * mean(state.m)
        let rateB = scaleRate * mean(state.b)
        var adamLA = Adam(count: la.values.count), adamLB = Adam(count: lb.values.count)
        var adamA = Adam(count: state.a.count), adamM = Adam(count: state.m.count), adamB = Adam(count: state.b.count)

        for step in 0...steps {
            let g = Self.lossAndGradients(state, target: target)
            if g.loss < bestLoss {
                bestLoss = g.loss
                best = state
            }
            if step == steps { break }
            // Straight-through: a latent moves with its sign's gradient while it is in [-1, 1].
            var gLA = g.signA.values, gLB = g.signB.values
            for i in gLA.indices where abs(la.values[i]) > 1 { gLA[i] = 0 }
            for i in gLB.indices where abs(lb.values[i]) > 1 { gLB[i] = 0 }
            adamLA.step(&la.values, gLA, rate: latentRate)
            adamLB.step(&lb.values, gLB, rate: latentRate)
            adamM.step(&state.m, g.m, rate: rateM)
            adamB.step(&state.b, g.b, rate: rateB)
            if !state.fixedInputScale { adamA.step(&state.a, g.a, rate: rateA) }
            // Latents live in [-1, 1] (clipped), their signs are the carriers.
            for i in la.values.indices {
                let v = Swift.min(1, Swift.max(-1, la.values[i]))
                la.values[i] = v
                state.signA.values[i] = v < 0 ? -1 : 1
            }
            for i in lb.values.indices {
                let v = Swift.min(1, Swift.max(-1, lb.values[i]))
                lb.values[i] = v
                state.signB.values[i] = v < 0 ? -1 : 1
            }
        }
        state = best
        return bestLoss
    }

    /// The loss `‖X − Y‖²` and its gradients with respect to every entry of the (real-valued)
    /// sign matrices and the three scale vectors, all from `k × k` and `r × k` Gram matrices:
    /// with `Ŷ = B̂·Â`, `∂L/∂B̂ = 2(B̂·ÂÂᵀ − X·Âᵀ)` and `∂L/∂Â = 2(B̂ᵀB̂·Â − B̂ᵀ·X)`, then the chain
    /// rule through `B̂ᵀ = m ⊙ S_B ⊙ b` and `Â = S_A ⊙ a`.
    public static func lossAndGradients(_ state: RefinementState, target: RefinementTarget) -> Gradients {
        let k = state.k
        let r = target.product.rank
        let y = state.effectiveFactors()          // Â [k, in], B̂ᵀ [k, out]
        let ga = SmallLinearAlgebra.gramFloat(y.a)
        let gb = SmallLinearAlgebra.gramFloat(y.bTransposed)
        let ca = SmallLinearAlgebra.rowDotsFloat(target.product.a, y.a)                 // r × k
        let cb = SmallLinearAlgebra.rowDotsFloat(target.product.bTransposed, y.bTransposed)   // r × k
        var yy = 0.0, xy = 0.0
        for i in 0..<(k * k) { yy += Double(ga[i]) * Double(gb[i]) }
        for i in 0..<(r * k) { xy += Double(ca[i]) * Double(cb[i]) }
        let loss = Swift.max(target.normSquared - 2 * xy + yy, 0)

        let dB = gradient(gram: ga, rows: y.bTransposed, cross: ca, targetRows: target.product.bTransposed, k: k, r: r)
        let dA = gradient(gram: gb, rows: y.a, cross: cb, targetRows: target.product.a, k: k, r: r)
        let outN = y.outFeatures, inN = y.inFeatures
        var gm = [Float](repeating: 0, count: k)
        var gbVec = [Float](repeating: 0, count: outN)
        var gSB = Matrix(rows: k, cols: outN)
        for j in 0..<k {
            let mj = state.m[j]
            var acc: Float = 0
            for o in 0..<outN {
                let d = dB.values[j * outN + o]
                let sign = state.signB.values[j * outN + o]
                acc += d * sign * state.b[o]
                gbVec[o] += d * sign * mj
                gSB.values[j * outN + o] = d * mj * state.b[o]
            }
            gm[j] = acc
        }
        var gaVec = [Float](repeating: 0, count: inN)
        var gSA = Matrix(rows: k, cols: inN)
        for j in 0..<k {
            for i in 0..<inN {
                let d = dA.values[j * inN + i]
                gaVec[i] += d * state.signA.values[j * inN + i]
                gSA.values[j * inN + i] = d * state.a[i]
            }
        }
        return Gradients(loss: loss, signA: gSA, signB: gSB, a: gaVec, m: gm, b: gbVec)
    }

    /// The loss and its gradients (see ``lossAndGradients(_:target:)``).
    public struct Gradients: Sendable {
        public var loss: Double
        public var signA: Matrix
        public var signB: Matrix
        public var a: [Float]
        public var m: [Float]
        public var b: [Float]
    }

    /// `2·(G·rows − Cᵀ·targetRows)` for `G` `k × k`, `C` `r × k`, as one pass over the stacked rows.
    static func gradient(gram: [Float], rows: Matrix, cross: [Float], targetRows: Matrix, k: Int, r: Int) -> Matrix {
        var coefficients = [Float](repeating: 0, count: k * (k + r))
        for j in 0..<k {
            for l in 0..<k { coefficients[j * (k + r) + l] = 2 * gram[j * k + l] }
            for i in 0..<r { coefficients[j * (k + r) + k + i] = -2 * cross[i * k + j] }
        }
        let stacked = Matrix(rows: k + r, cols: rows.cols, values: rows.values + targetRows.values)
        return SmallLinearAlgebra.combine(coefficients, rows: k, stacked)
    }

    /// `latent` with every entry given the sign `state` holds (the sign search flips some),
    /// keeping its magnitude (at least the smallest normal float).
    public static func aligned(_ latent: LowRankProduct, with state: RefinementState) -> LowRankProduct {
        func aligned(_ latent: Matrix, _ signs: Matrix) -> Matrix {
            var out = latent
            for i in out.values.indices {
                let magnitude = Swift.max(abs(out.values[i]), Float.leastNormalMagnitude)
                out.values[i] = signs.values[i] < 0 ? -magnitude : magnitude
            }
            return out
        }
        return LowRankProduct(a: aligned(latent.a, state.signA), bTransposed: aligned(latent.bTransposed, state.signB))
    }

    /// The latent with each channel's row scaled to a largest magnitude of ½ (inside the
    /// estimator's active region), so channels of different size move at the same pace.
    static func normalisedLatent(_ m: Matrix) -> Matrix {
        var out = m
        let n = m.cols
        for j in 0..<m.rows {
            var peak: Float = 0
            for i in 0..<n { peak = Swift.max(peak, abs(m.values[j * n + i])) }
            guard peak > 0 else { continue }
            let s = 0.5 / peak
            for i in 0..<n { out.values[j * n + i] *= s }
        }
        return out
    }

    private func mean(_ v: [Float]) -> Float {
        v.isEmpty ? 0 : v.reduce(0) { $0 + abs($1) } / Float(v.count)
    }
}

/// Adam (β₁ = 0.9, β₂ = 0.999) over one parameter vector.
struct Adam: Sendable {
    var first: [Float]
    var second: [Float]
    var t: Float = 0

    init(count: Int) {
        first = [Float](repeating: 0, count: count)
        second = [Float](repeating: 0, count: count)
    }

    mutating func step(_ parameters: inout [Float], _ gradient: [Float], rate: Float) {
        t += 1
        let c1 = 1 - pow(0.9, t), c2 = 1 - pow(0.999, t)
        let n = parameters.count
        // Vectorised in lanes of 8; the arithmetic per element is the same as the scalar tail.
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                first.withUnsafeMutableBufferPointer { m1 in
                    second.withUnsafeMutableBufferPointer { m2 in
                        let step = SIMD8<Float>(repeating: rate / c1)
                        let inverseC2 = SIMD8<Float>(repeating: 1 / c2)
                        let tiny = SIMD8<Float>(repeating: 1e-30)
                        var i = 0
                        let gr = UnsafeRawPointer(g.baseAddress!)
                        let pr = UnsafeMutableRawPointer(p.baseAddress!)
                        let ar = UnsafeMutableRawPointer(m1.baseAddress!)
                        let br = UnsafeMutableRawPointer(m2.baseAddress!)
                        while i + 8 <= n {
                            let offset = i * 4
                            let gv = gr.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            let a = 0.9 * ar.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) + 0.1 * gv
                            let b = 0.999 * br.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) + 0.001 * gv * gv
                            let update = step * a / ((b * inverseC2).squareRoot() + tiny)
                            let next = pr.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) - update
                            ar.storeBytes(of: a, toByteOffset: offset, as: SIMD8<Float>.self)
                            br.storeBytes(of: b, toByteOffset: offset, as: SIMD8<Float>.self)
                            pr.storeBytes(of: next, toByteOffset: offset, as: SIMD8<Float>.self)
                            i += 8
                        }
                        while i < n {
                            let gv = g[i]
                            m1[i] = 0.9 * m1[i] + 0.1 * gv
                            m2[i] = 0.999 * m2[i] + 0.001 * gv * gv
                            let update = (rate / c1) * m1[i] / ((m2[i] / c2).squareRoot() + 1e-30)
                            p[i] -= update
                            i += 1
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
