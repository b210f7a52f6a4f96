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
    public var latentRate: Float = 3e-3
    /// Step size for scale vectors, relative to each vector's mean magnitude at the start.
    public var scaleRate: Float = 3e-3

    public init(steps: Int) {
        self.steps = steps
    }

    /// Refines `state` towards `target`; `latentA`/`latentB` (`[k, in]`, `[k, out]`) seed the
    /// latents — their signs must equal the state's signs. Returns the best objective.
    @discardableResult
    public func refine(_ state: inout RefinementState, target: RefinementTarget,
                       latentA: Matrix, latentB: Matrix) -> Double {
        var la = Self.normalisedLatent(latentA)
        var lb = Self.normalisedLatent(latentB)
        var best = state
        var bestLoss = Double.infinity
        let rateA = scaleRate * mean(state.a)
        let rateM = scaleRate * mean(state.m)
        let rateB = scaleRate * mean(state.b)
        var adamLA = Adam(count: la.values.count), adamLB = Adam(count: lb.values.count)
        var adamA = Adam(count: state.a.count), adamM = Adam(count: state.m.count), adamB = Adam(count: state.b.count)
        let k = state.k
        let r = target.left.rows

        for step in 0...steps {
            let right = state.effectiveRight()        // Â rows [k, in]
            let left = state.effectiveLeft()          // B̂ᵀ rows [k, out]
            let ga = SmallLinearAlgebra.rowDotsFloat(right, right)
            let gb = SmallLinearAlgebra.rowDotsFloat(left, left)
            let ca = SmallLinearAlgebra.rowDotsFloat(target.right, right)   // r × k
            let cb = SmallLinearAlgebra.rowDotsFloat(target.left, left)     // r × k
            var yy = 0.0, xy = 0.0
            for i in 0..<(k * k) { yy += Double(ga[i]) * Double(gb[i]) }
            for i in 0..<(r * k) { xy += Double(ca[i]) * Double(cb[i]) }
            let loss = target.normSquared - 2 * xy + yy
            if loss < bestLoss {
                bestLoss = loss
                best = state
            }
            if step == steps { break }

            // ∂L/∂B̂ᵀ = 2(G_A·B̂ᵀ − C_Aᵀ·left),  ∂L/∂Â = 2(G_B·Â − C_Bᵀ·right)   (rows)
            let dLeft = Self.gradient(gram: ga, rows: left, cross: ca, targetRows: target.left, k: k, r: r)
            let dRight = Self.gradient(gram: gb, rows: right, cross: cb, targetRows: target.right, k: k, r: r)

            let outN = left.cols, inN = right.cols
            var gm = [Float](repeating: 0, count: k)
            var gbVec = [Float](repeating: 0, count: outN)
            var gLB = [Float](repeating: 0, count: k * outN)
            for j in 0..<k {
                let mj = state.m[j]
                var acc: Float = 0
                for o in 0..<outN {
                    let g = dLeft.values[j * outN + o] * state.signB.values[j * outN + o]
                    acc += g * state.b[o]
                    gbVec[o] += g * mj
                    let latent = lb.values[j * outN + o]
                    gLB[j * outN + o] = abs(latent) <= 1 ? g * mj * state.b[o] : 0
                }
                gm[j] = acc
            }
            var ga2 = [Float](repeating: 0, count: inN)
            var gLA = [Float](repeating: 0, count: k * inN)
            for j in 0..<k {
                for i in 0..<inN {
                    let g = dRight.values[j * inN + i] * state.signA.values[j * inN + i]
                    ga2[i] += g
                    let latent = la.values[j * inN + i]
                    gLA[j * inN + i] = abs(latent) <= 1 ? g * state.a[i] : 0
                }
            }
            adamLA.step(&la.values, gLA, rate: latentRate, clip: 1)
            adamLB.step(&lb.values, gLB, rate: latentRate, clip: 1)
            adamM.step(&state.m, gm, rate: rateM)
            adamB.step(&state.b, gbVec, rate: rateB)
            if !state.fixedInputScale { adamA.step(&state.a, ga2, rate: rateA) }
            for i in la.values.indices { state.signA.values[i] = la.values[i] < 0 ? -1 : 1 }
            for i in lb.values.indices { state.signB.values[i] = lb.values[i] < 0 ? -1 : 1 }
        }
        state = best
        return bestLoss
    }

    /// `2·(G·rows − Cᵀ·targetRows)` for `G` `k × k`, `C` `r × k`.
    static func gradient(gram: [Float], rows: Matrix, cross: [Float], targetRows: Matrix, k: Int, r: Int) -> Matrix {
        var crossT = [Float](repeating: 0, count: k * r)
        for i in 0..<r { for j in 0..<k { crossT[j * r + i] = -cross[i * k + j] } }
        var out = SmallLinearAlgebra.combine(gram, rows: k, rows)
        let minus = SmallLinearAlgebra.combine(crossT, rows: k, targetRows)
        for i in out.values.indices { out.values[i] = 2 * (out.values[i] + minus.values[i]) }
        return out
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

    mutating func step(_ parameters: inout [Float], _ gradient: [Float], rate: Float, clip: Float? = nil) {
        t += 1
        let c1 = 1 - pow(0.9, t), c2 = 1 - pow(0.999, t)
        for i in parameters.indices {
            let g = gradient[i]
            first[i] = 0.9 * first[i] + 0.1 * g
            second[i] = 0.999 * second[i] + 0.001 * g * g
            let update = rate * (first[i] / c1) / ((second[i] / c2).squareRoot() + 1e-30)
            var p = parameters[i] - update
            if let clip { p = Swift.min(clip, Swift.max(-clip, p)) }
            parameters[i] = p
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
