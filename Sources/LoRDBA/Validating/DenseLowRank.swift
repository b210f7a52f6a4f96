/// A low-rank branch with dense Float32 factors, `Y[t] += B·(A·X[t])`, computed as the LoRA
/// forward pass does: `x·Aᵀ`, then `·Bᵀ`.
///
/// Built from a ``BinaryModule`` (`A = Â`, `B = B̂`, signs and scales expanded to floats) it is
/// the dense reference the sign kernel is checked against; built from a ``LoRAModule``
/// (`A`, `s·B`) it is the original adapter, for fidelity.
public struct DenseLowRank: Sendable {
    /// The branch's product, scale folded into `Bᵀ` (rank-major, so the second step is contiguous).
    public let factors: LowRankProduct

    /// A branch computing `product` (its scale folded into `Bᵀ`).
    public init(_ product: LowRankProduct) {
        factors = product.scale == 1 ? product : product.foldingScale()
    }

    /// The dense reference of a LoRDBA module: `Â = S_A·diag(a)` and `B̂ = diag(b)·S_Bᵀ·diag(m)`.
    public init(binary: BinaryModule) {
        self.init(binary.effectiveFactors())
    }

    /// The original LoRA branch: `A` and `s·B`.
    public init(lora: LoRAModule) {
        self.init(LowRankProduct(lora))
    }

    /// Input features.
    public var inFeatures: Int { factors.inFeatures }
    /// Output features.
    public var outFeatures: Int { factors.outFeatures }
    /// The rank.
    public var rank: Int { factors.rank }

    /// Adds the branch for Float32 activations (`tokens × in`, row-major) to `y` (`tokens × out`).
    public func apply(_ x: [Float], tokens: Int, into y: inout [Float], threads: Int = 1) {
        precondition(tokens >= 0 && x.count == tokens * inFeatures, "x must hold tokens × in values")
        precondition(y.count == tokens * outFeatures, "y must hold tokens × out values")
        guard tokens > 0, rank > 0 else { return }
        factors.a.values.withUnsafeBufferPointer { d in
            factors.bTransposed.values.withUnsafeBufferPointer { u in
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        let context = DenseContext(a: d.baseAddress!, bTransposed: u.baseAddress!, x: xb.baseAddress!,
                                                   y: yb.baseAddress!, inFeatures: inFeatures,
                                                   outFeatures: outFeatures, rank: rank)
                        let blocks = (tokens + 3) / 4
                        let work = tokens * rank * (inFeatures + outFeatures)
                        let workers = work < SignGEMM.parallelWork ? 1 : Swift.max(1, threads)
                        ParallelLoop.run(count: blocks, threads: workers) { block in
                            context.block(first: block * 4, count: Swift.min(4, tokens - block * 4))
                        }
                    }
                }
            }
        }
    }

    /// Adds the branch for Float16 activations (converted to Float32 first) to `y`.
    public func apply(_ x: [Float16], tokens: Int, into y: inout [Float], threads: Int = 1) {
        apply(x.map { Float($0) }, tokens: tokens, into: &y, threads: threads)
    }
}

/// Raw pointers of one dense call; workers write disjoint token rows of `y`.
private struct DenseContext: @unchecked Sendable {
    /// `A`, `[rank, in]`.
    let a: UnsafePointer<Float>
    /// `Bᵀ`, `[rank, out]`.
    let bTransposed: UnsafePointer<Float>
    let x: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let inFeatures: Int
    let outFeatures: Int
    let rank: Int

    typealias Lanes = SIMD8<Float>

    /// Tokens `first ..< first + count` (count ≤ 4): `h = A·x`, then `y += B·h`.
    func block(first: Int, count: Int) {
        let h = UnsafeMutablePointer<Float>.allocate(capacity: 4 * rank)
        defer { h.deallocate() }
        let vectorIn = inFeatures & ~7
        for t in 0..<count {
            let row = x + (first + t) * inFeatures
            for j in 0..<rank {
                let d = a + j * inFeatures
                var a0 = Lanes(), a1 = Lanes()
                var i = 0
                while i + 16 <= vectorIn {
                    a0 = SignKernel.lanes(d + i) * SignKernel.lanes(row + i) + a0
                    a1 = SignKernel.lanes(d + i + 8) * SignKernel.lanes(row + i + 8) + a1
                    i += 16
                }
                if i < vectorIn { a0 = SignKernel.lanes(d + i) * SignKernel.lanes(row + i) + a0; i += 8 }
                var sum = (a0 + a1).sum()
                while i < inFeatures { sum += d[i] * row[i]; i += 1 }
                h[t * rank + j] = sum
            }
        }
        let vectorOut = outFeatures & ~7
        for t in 0..<count {
            let out = y + (first + t) * outFeatures
            var o = 0
            while o < vectorOut {
                var acc = SignKernel.lanes(out + o)
                for j in 0..<rank {
                    acc = SignKernel.lanes(bTransposed + j * outFeatures + o) * Lanes(repeating: h[t * rank + j]) + acc
                }
                SignKernel.store(acc, out + o)
                o += 8
            }
            while o < outFeatures {
                var acc = out[o]
                for j in 0..<rank { acc += bTransposed[j * outFeatures + o] * h[t * rank + j] }
                out[o] = acc
                o += 1
            }
        }
    }
}
