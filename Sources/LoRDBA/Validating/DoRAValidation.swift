/// What the validator checked of a DoRA module (format 1.1 `dora`, formats/lba.md §7).
///
/// Always: the `.lba`'s magnitude `g` is byte-identical to the reference's
/// `lora_magnitude_vector` (else the reference is refused), and `ΔW·x` is measured against the
/// reference's. With the base weights (`--base`) the module's fidelity is that of the whole DoRA
/// layer's effect on the output, `(g/n)⊙(W₀x + ΔWx) − W₀x` with `n = ‖W₀ + ΔW‖` per output row,
/// each side with its own norms; without them the norm rescaling cannot be computed and the
/// fidelity is that of `ΔW·x` alone.
public struct DoRAValidation: Sendable, Equatable {
    /// The carried magnitude tensor's name.
    public var magnitude: String
    /// Whether the base weight was applied (the fidelity is then of the DoRA layer's effect).
    public var normsApplied: Bool
    /// `‖ΔW_lba·x − ΔW_lora·x‖/‖ΔW_lora·x‖`: the direction update alone, always measured.
    public var deltaFidelity: Double
    /// With the base: the largest `|n_lba − n_lora|/n_lora` over the output rows.
    public var normDifference: Double?

    public init(magnitude: String, normsApplied: Bool, deltaFidelity: Double, normDifference: Double? = nil) {
        self.magnitude = magnitude
        self.normsApplied = normsApplied
        self.deltaFidelity = deltaFidelity
        self.normDifference = normDifference
    }
}

/// The arithmetic of a DoRA layer for validation: row norms of `W₀ + ΔW` in low-rank form (no
/// `out × in` matrix beyond `W₀` itself), the base layer's outputs, and the error energy of the
/// two layers' effects.
enum DoRAMath {
    /// The error energy of the `.lba`'s DoRA layer against the reference's, `(‖E_lba − E_lora‖²,
    /// ‖E_lora‖²)` with `E = (g/n)⊙(W₀x + ΔWx) − W₀x`, from each side's dense branch and `ΔW·x`
    /// outputs; records the norms' largest relative difference in `record`.
    static func layerEffect(module: BinaryModule, base: BaseWeights, magnitude g: [Float], x: [Float], tokens: Int,
                            threads: Int, lba: (DenseLowRank, [Float]), lora: (DenseLowRank, [Float]),
                            into record: inout DoRAValidation) throws(ValidatorError) -> (Double, Double) {
        let w0 = try base.weight(module: module.name, outFeatures: module.outFeatures, inFeatures: module.inFeatures)
        let normsLBA = rowNorms(base: w0, branch: lba.0)
        let normsLoRA = rowNorms(base: w0, branch: lora.0)
        let y0 = baseOutputs(x, tokens: tokens, weight: w0, outFeatures: module.outFeatures,
                             inFeatures: module.inFeatures, threads: threads)
        record.normsApplied = true
        record.normDifference = zip(normsLBA, normsLoRA).map { abs($0 - $1) / $1 }.max()
        return effectEnergy(base: y0, delta1: lba.1, norms1: normsLBA, delta2: lora.1, norms2: normsLoRA,
                            magnitude: g, outFeatures: module.outFeatures)
    }

    /// `‖W₀[o,:] + ΔW[o,:]‖` per output row, with `ΔW[o,:] = Σⱼ U[j,o]·D[j,:]` from a dense branch (Double sums).
    static func rowNorms(base: [Float], branch: DenseLowRank) -> [Double] {
        let n = branch.inFeatures, out = branch.outFeatures, k = branch.rank
        precondition(base.count == out * n)
        var norms = [Double](repeating: 0, count: out)
        var row = [Double](repeating: 0, count: n)
        for o in 0..<out {
            for c in 0..<n { row[c] = Double(base[o * n + c]) }
            for j in 0..<k {
                let u = Double(branch.factors.bTransposed.values[j * out + o])
                if u == 0 { continue }
                let d = j * n
                for c in 0..<n { row[c] += u * Double(branch.factors.a.values[d + c]) }
            }
            var sum = 0.0
            for c in 0..<n { sum += row[c] * row[c] }
            norms[o] = sum.squareRoot()
        }
        return norms
    }

    /// `Y₀ = X·W₀ᵀ` (`tokens × out`), one token row per worker task.
    static func baseOutputs(_ x: [Float], tokens: Int, weight: [Float], outFeatures: Int, inFeatures: Int,
                            threads: Int) -> [Float] {
        var y = [Float](repeating: 0, count: tokens * outFeatures)
        x.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                y.withUnsafeMutableBufferPointer { yb in
                    let context = BaseGEMMContext(x: xb.baseAddress!, w: wb.baseAddress!, y: yb.baseAddress!,
                                                  inFeatures: inFeatures, outFeatures: outFeatures)
                    let work = tokens * inFeatures * outFeatures
                    ParallelLoop.run(count: tokens, threads: work < SignGEMM.parallelWork ? 1 : Swift.max(1, threads)) { t in
                        context.row(t)
                    }
                }
            }
        }
        return y
    }

    /// `(‖E₁ − E₂‖², ‖E₂‖²)` for the effects `E = (g/n)⊙(Y₀ + ΔY) − Y₀` of two DoRA layers that
    /// share `g` and `Y₀`, in Double.
    static func effectEnergy(base y0: [Float], delta1: [Float], norms1: [Double], delta2: [Float], norms2: [Double],
                             magnitude g: [Float], outFeatures: Int) -> (Double, Double) {
        precondition(y0.count == delta1.count && y0.count == delta2.count && g.count == outFeatures)
        var difference = 0.0, reference = 0.0
        for i in y0.indices {
            let o = i % outFeatures
            let base = Double(y0[i])
            let e1 = Double(g[o]) / norms1[o] * (base + Double(delta1[i])) - base
            let e2 = Double(g[o]) / norms2[o] * (base + Double(delta2[i])) - base
            difference += (e1 - e2) * (e1 - e2)
            reference += e2 * e2
        }
        return (difference, reference)
    }
}

/// Raw pointers of one base GEMM; workers write disjoint token rows of `y`.
private struct BaseGEMMContext: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let w: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let inFeatures: Int
    let outFeatures: Int

    func row(_ t: Int) {
        let xRow = x + t * inFeatures
        for o in 0..<outFeatures {
            y[t * outFeatures + o] = SmallLinearAlgebra.dotFloat(w + o * inFeatures, xRow, inFeatures)
        }
    }
}
