extension Validator {
    /// The rank the dense LoRA branch is timed at: the file's `rank`, at most `min(in, out)`
    /// (the largest rank an `out × in` product has). `rank` is informational — nothing in the
    /// file backs it — so it is bounded by the module's shape, which the sign sections hold,
    /// before it sizes the baseline's factors. Real adapters have `r ≤ min(in, out)`: for them
    /// this is `r`.
    static func denseRank(_ module: BinaryModule) -> Int {
        Swift.max(1, Swift.min(module.loraRank, module.inFeatures, module.outFeatures))
    }

    /// Bytes timing one shape holds at once, in Double (no overflow): the dense branch's
    /// factors and their rank-major copy (`2·r'·(in + out)` floats), the base layer's weights
    /// (`in·out`), inputs, outputs and the branch's hidden rows at the largest `T`
    /// (`T·(in + out + r')`), and the sign kernel's prepared module.
    static func timingBytes(inFeatures: Int, outFeatures: Int, denseRank: Int, binaryRank: Int, tokens: Int) -> Double {
        let inF = Double(inFeatures), outF = Double(outFeatures), r = Double(denseRank), t = Double(tokens)
        let floats = 2 * r * (inF + outF) + inF * outF + t * (inF + outF + r)
        let signs = Double(binaryRank) * (inF + outF) / 4 + 4 * (inF + outF + Double(binaryRank))
        return 4 * floats + signs
    }

    /// Times each distinct shape once at every `options.timingTokens`; a shape whose buffers
    /// would exceed ``ValidationOptions/memoryLimit`` is not timed (and is returned as untimed).
    static func time(_ modules: [BinaryModule], blas: OpenBLAS?,
                     options: ValidationOptions) -> (timed: [ShapeTiming], untimed: [UntimedShape]) {
        struct Key: Hashable { var inFeatures, outFeatures, rank, binaryRank: Int }
        var order: [Key] = []
        var first: [Key: BinaryModule] = [:]
        var counts: [Key: Int] = [:]
        for m in modules {
            let key = Key(inFeatures: m.inFeatures, outFeatures: m.outFeatures, rank: m.loraRank, binaryRank: m.binaryRank)
            if first[key] == nil { order.append(key); first[key] = m }
            counts[key, default: 0] += 1
        }
        var rng = SeededGenerator(seed: options.seed ^ 0x7469_6D65)
        func uniform(_ count: Int) -> [Float] { (0..<count).map { _ in 2 * rng.nextUnitFloat() - 1 } }
        var timed: [ShapeTiming] = []
        var untimed: [UntimedShape] = []
        for key in order {
            let rank = denseRank(first[key]!)
            let bytes = timingBytes(inFeatures: key.inFeatures, outFeatures: key.outFeatures, denseRank: rank,
                                    binaryRank: key.binaryRank, tokens: options.timingTokens.max() ?? 0)
            guard bytes <= Double(options.memoryLimit) else {
                untimed.append(UntimedShape(inFeatures: key.inFeatures, outFeatures: key.outFeatures, rank: key.rank,
                                            binaryRank: key.binaryRank, modules: counts[key]!, bytes: bytes))
                continue
            }
            let kernel = SignGEMM(first[key]!)
            let a = Matrix(rows: rank, cols: key.inFeatures, values: uniform(rank * key.inFeatures))
            let b = Matrix(rows: key.outFeatures, cols: rank, values: uniform(key.outFeatures * rank))
            let weights = blas != nil ? uniform(key.outFeatures * key.inFeatures) : []
            let points = options.timingTokens.map { t in
                let x = uniform(t * key.inFeatures)
                var y = [Float](repeating: 0, count: t * key.outFeatures)
                // The sign path and the dense branch (and the base GEMM) take their samples in
                // turn, so that their ratios compare the same minutes of a drifting machine.
                let medians: [Double]
                if let blas {
                    let branch = OpenBLASBranch(blas: blas, a: a, b: b, scale: 1)
                    var hidden: [Float] = []
                    medians = Timing.medians(samples: options.timingSamples, minimumSeconds: options.timingMinimumSeconds, [
                        { kernel.apply(x, tokens: t, into: &y, threads: options.threads) },
                        { branch.apply(x, tokens: t, into: &y, hidden: &hidden) },
                        {
                            blas.multiplyTransposed(x, rows: t, inner: key.inFeatures, weights, columns: key.outFeatures,
                                                    into: &y, beta: 1)
                        },
                    ])
                } else {
                    let branch = DenseLowRank(lora: LoRAModule(name: "", a: a, b: b, scale: 1,
                                                               source: .init(aTensor: "", bTensor: "", dtype: .f32)))
                    medians = Timing.medians(samples: options.timingSamples, minimumSeconds: options.timingMinimumSeconds, [
                        { kernel.apply(x, tokens: t, into: &y, threads: options.threads) },
                        { branch.apply(x, tokens: t, into: &y, threads: options.threads) },
                    ])
                }
                let (sign, dense, base) = (medians[0], medians[1], medians.count > 2 ? medians[2] : nil)
                return TimingPoint(tokens: t, signSeconds: sign, denseSeconds: dense,
                                   denseBackend: blas == nil ? "swift" : "openblas", baseSeconds: base)
            }
            timed.append(ShapeTiming(inFeatures: key.inFeatures, outFeatures: key.outFeatures, rank: key.rank,
                                     binaryRank: key.binaryRank, modules: counts[key]!, points: points, denseRank: rank))
        }
        return (timed, untimed)
    }
}
