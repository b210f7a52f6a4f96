/// A low-rank branch with dense Float32 factors, `Y[t] += U·(D·X[t])`, computed as the LoRA
/// forward pass does: `x·Dᵀ`, then `·U`.
///
/// Built from a ``BinaryModule`` (`D = Â`, `U = B̂`, signs and scales expanded to floats) it is
/// the dense reference the sign kernel is checked against; built from a ``LoRAModule``
/// (`D = A`, `U = s·B`) it is the original adapter, for fidelity.
public struct DenseLowRank: Sendable {
    /// The down-projection `D`, `[r, in]`.
    public let down: Matrix
    /// The up-projection stored rank-major, `Uᵀ`, `[r, out]` (each row is one rank channel's
    /// contribution to every output, so the second step is contiguous).
    public let upRankMajor: Matrix

    /// A branch from its factors; `down.rows` must equal `upRankMajor.rows`.
    public init(down: Matrix, upRankMajor: Matrix) {
        precondition(down.rows == upRankMajor.rows, "factors disagree on the rank")
        self.down = down
        self.upRankMajor = upRankMajor
    }

    /// The dense reference of a LoRDBA module: `Â = S_A·diag(a)` and `B̂ = diag(b)·S_Bᵀ·diag(m)`.
    public init(binary: BinaryModule) {
        self.init(down: binary.effectiveA(), upRankMajor: ErrorAnalysis.effectiveBRankMajor(binary))
    }

    /// The original LoRA branch: `A` and `s·B`.
    public init(lora: LoRAModule) {
        var up = lora.b.transposed()
        let s = Float(lora.scale)
        for i in up.values.indices { up.values[i] *= s }
        self.init(down: lora.a, upRankMajor: up)
    }

    /// Input features.
    public var inFeatures: Int { down.cols }
    /// Output features.
    public var outFeatures: Int { upRankMajor.cols }
    /// The rank.
    public var rank: Int { down.rows }

    /// Adds the branch for Float32 activations (`tokens × in`, row-major) to `y` (`tokens × out`).
    public func apply(_ x: [Float], tokens: Int, into y: inout [Float], threads: Int = 1) {
        precondition(tokens >= 0 && x.count == tokens * inFeatures, "x must hold tokens × in values")
        precondition(y.count == tokens * outFeatures, "y must hold tokens × out values")
        guard tokens > 0, rank > 0 else { return }
        down.values.withUnsafeBufferPointer { d in
            upRankMajor.values.withUnsafeBufferPointer { u in
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        let context = DenseContext(down: d.baseAddress!, up: u.baseAddress!, x: xb.baseAddress!,
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
    let down: UnsafePointer<Float>
    let up: UnsafePointer<Float>
    let x: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let inFeatures: Int
    let outFeatures: Int
    let rank: Int

    typealias Lanes = SIMD8<Float>

    /// Tokens `first ..< first + count` (count ≤ 4): `h = D·x`, then `y += Uᵀ·h`.
    func block(first: Int, count: Int) {
        let h = UnsafeMutablePointer<Float>.allocate(capacity: 4 * rank)
        defer { h.deallocate() }
        let vectorIn = inFeatures & ~7
        for t in 0..<count {
            let row = x + (first + t) * inFeatures
            for j in 0..<rank {
                let d = down + j * inFeatures
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
                    acc = SignKernel.lanes(up + j * outFeatures + o) * Lanes(repeating: h[t * rank + j]) + acc
                }
                SignKernel.store(acc, out + o)
                o += 8
            }
            while o < outFeatures {
                var acc = out[o]
                for j in 0..<rank { acc += up[j * outFeatures + o] * h[t * rank + j] }
                out[o] = acc
                o += 1
            }
        }
    }
}
