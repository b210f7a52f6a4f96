extension Validator {
    /// Times each distinct shape once at every `options.timingTokens`.
    static func time(_ modules: [BinaryModule], blas: OpenBLAS?, options: ValidationOptions) -> [ShapeTiming] {
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
        return order.map { key in
            let kernel = SignGEMM(first[key]!)
            let a = Matrix(rows: key.rank, cols: key.inFeatures, values: uniform(key.rank * key.inFeatures))
            let b = Matrix(rows: key.outFeatures, cols: key.rank, values: uniform(key.outFeatures * key.rank))
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
            return ShapeTiming(inFeatures: key.inFeatures, outFeatures: key.outFeatures, rank: key.rank,
                               binaryRank: key.binaryRank, modules: counts[key]!, points: points)
        }
    }
}
