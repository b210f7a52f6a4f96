import Testing
@testable import LoRDBA

@Suite struct FactorizerTests {
    static func module(r: Int, inF: Int, outF: Int, seed: UInt64) -> LoRAModule {
        var rng = SeededGenerator(seed: seed)
        var b = rng.gaussianMatrix(rows: outF, cols: r, scale: 0.01)
        // Uneven column norms, as in trained adapters.
        for o in 0..<outF { for j in 0..<r { b[o, j] /= Float(1 + j) } }
        return LoRAModule(name: "m", a: rng.gaussianMatrix(rows: r, cols: inF, scale: 0.05), b: b, scale: 2,
                          source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
    }

    @Test(arguments: [(8, 40, 30), (16, 64, 100), (6, 50, 20), (3, 9, 200)])
    func factorizationsLeaveTheProductUnchanged(shape: (Int, Int, Int)) {
        let m = Self.module(r: shape.0, inF: shape.1, outF: shape.2, seed: UInt64(shape.0 * shape.1))
        for f in [Factorization.balanced, .rotated] {
            let g = Factorizer.apply(f, to: LowRankProduct(m), seed: 5)
            let c = LowRankProduct.compare(reference: LowRankProduct(m), approximation: g)
            #expect(c.relativeError < 1e-5, "\(f): \(c.relativeError)")
            #expect(g.rank == m.rank)
        }
    }

    @Test func balancedFactorsShareOneDiagonalGram() {
        let m = Self.module(r: 5, inF: 30, outF: 25, seed: 9)
        let g = Factorizer.apply(.balanced, to: LowRankProduct(m))
        let gb = SmallLinearAlgebra.gram(g.bTransposed)
        let ga = SmallLinearAlgebra.gram(g.a)
        for i in 0..<5 {
            for j in 0..<5 {
                let tolerance = 1e-5 * ga[0]
                #expect(abs(ga[i * 5 + j] - gb[i * 5 + j]) < tolerance)      // BᵀB = AAᵀ = Σ
                if i != j { #expect(abs(ga[i * 5 + j]) < tolerance) }
            }
        }
        #expect(ga[0] >= ga[6] && ga[6] >= ga[12])                         // descending singular values
    }

    @Test func rankDeficientFactorsDropDeadDirections() {
        var m = Self.module(r: 4, inF: 12, outF: 10, seed: 2)
        for c in 0..<12 { m.a[3, c] = 0 }                                   // one rank channel carries nothing
        let g = Factorizer.apply(.balanced, to: LowRankProduct(m))
        #expect(g.rank == 3)
        let c = LowRankProduct.compare(reference: LowRankProduct(m), approximation: g)
        #expect(c.relativeError < 1e-5)
    }

    @Test func orthogonalMixes() {
        for n in [1, 2, 4, 8, 3, 6, 12] {
            let h = Factorizer.orthogonalMix(n, seed: 3)
            for i in 0..<n {
                for j in 0..<n {
                    var d = 0.0
                    for c in 0..<n { d += h[i * n + c] * h[j * n + c] }
                    #expect(abs(d - (i == j ? 1 : 0)) < 1e-12)
                }
            }
        }
        // Powers of two use the Hadamard matrix: every entry ±1/√n.
        #expect(Factorizer.orthogonalMix(4, seed: 0).allSatisfy { abs(abs($0) - 0.5) < 1e-15 })
        #expect(Factorizer.orthogonalMix(3, seed: 1) == Factorizer.orthogonalMix(3, seed: 1))
        #expect(Factorizer.orthogonalMix(3, seed: 1) != Factorizer.orthogonalMix(3, seed: 2))
    }
}
