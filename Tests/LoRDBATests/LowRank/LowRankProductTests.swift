import Testing
@testable import LoRDBA

/// The one product-as-factors type: its constructors, views and combinations.
@Suite struct LowRankProductTests {
    static func product(rank: Int, inF: Int, outF: Int, scale: Double = 1, seed: UInt64) -> LowRankProduct {
        var rng = SeededGenerator(seed: seed)
        return LowRankProduct(a: rng.gaussianMatrix(rows: rank, cols: inF), bTransposed: rng.gaussianMatrix(rows: rank, cols: outF),
                              scale: scale)
    }

    /// `scale·B·A` formed densely (small shapes only).
    static func dense(_ p: LowRankProduct) -> [Double] {
        let b = p.b
        var out = [Double](repeating: 0, count: p.outFeatures * p.inFeatures)
        for o in 0..<p.outFeatures {
            for i in 0..<p.inFeatures {
                var sum = 0.0
                for j in 0..<p.rank { sum += Double(b[o, j]) * Double(p.a[j, i]) }
                out[o * p.inFeatures + i] = p.scale * sum
            }
        }
        return out
    }

    static func distance(_ x: [Double], _ y: [Double]) -> Double {
        zip(x, y).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }

    @Test func aLoRAModuleKeepsItsFactorsAndBIsTheTransposedView() {
        var rng = SeededGenerator(seed: 1)
        let module = LoRAModule(name: "m", a: rng.gaussianMatrix(rows: 3, cols: 7), b: rng.gaussianMatrix(rows: 5, cols: 3),
                                scale: 0.5, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        let p = LowRankProduct(module)
        #expect(p.a.values == module.a.values && p.b.values == module.b.values)
        #expect(p.rank == 3 && p.inFeatures == 7 && p.outFeatures == 5 && p.scale == 0.5)
        #expect(p.bTransposed[2, 4] == module.b[4, 2])
    }

    @Test func foldingTheScaleKeepsTheProduct() {
        let p = Self.product(rank: 4, inF: 9, outF: 6, scale: -1.75, seed: 2)
        let folded = p.foldingScale()
        #expect(folded.scale == 1)
        let x = Self.dense(p), y = Self.dense(folded)
        #expect(Self.distance(x, y) <= 1e-6 * Self.distance(x, x.map { _ in 0 }))
        #expect(abs(folded.norm - p.norm) <= 1e-6 * p.norm)
    }

    @Test func differenceAndStackingAreTheDenseDifferenceAndSum() {
        let x = Self.product(rank: 3, inF: 8, outF: 5, seed: 3), y = Self.product(rank: 2, inF: 8, outF: 5, seed: 4)
        let dx = Self.dense(x), dy = Self.dense(y)
        let difference = LowRankProduct.difference(x, y)
        #expect(difference.rank == 5)
        #expect(abs(difference.norm - Self.distance(dx, dy)) <= 1e-9 * difference.norm + 1e-12)
        let sum = x.appendingChannels(of: y)
        let denseSum = zip(dx, dy).map { $0 + $1 }
        #expect(Self.distance(Self.dense(sum), denseSum) <= 1e-5 * Self.distance(denseSum, denseSum.map { _ in 0 }))
        // compare agrees with the dense relative error.
        let c = LowRankProduct.compare(reference: x, approximation: y)
        #expect(abs(c.relativeError - Self.distance(dx, dy) / Self.distance(dx, dx.map { _ in 0 })) < 1e-9)
    }

    @Test func truncationKeepsTheLeadingChannels() {
        let p = Self.product(rank: 5, inF: 6, outF: 4, scale: 2, seed: 5)
        let t = p.truncated(toRank: 2)
        #expect(t.rank == 2 && t.scale == 2)
        #expect(t.a.values == Array(p.a.values.prefix(12)) && t.bTransposed.values == Array(p.bTransposed.values.prefix(8)))
    }

    @Test func effectiveFactorsAreSignsTimesScales() {
        var rng = SeededGenerator(seed: 6)
        let (k, inF, outF) = (3, 10, 7)
        let signA = SignMatrix(signsOf: rng.gaussianMatrix(rows: k, cols: inF))
        let signB = SignMatrix(signsOf: rng.gaussianMatrix(rows: k, cols: outF))
        let a = (0..<inF).map { _ in rng.nextUnitFloat() }, b = (0..<outF).map { _ in rng.nextUnitFloat() }
        let m = (0..<k).map { _ in rng.nextGaussian() }
        for input in [a, nil] {
            let module = BinaryModule(name: "x", kind: .linear, loraRank: 2, loraScale: 1, signA: signA, signB: signB,
                                      scales: ChannelScales(input: input, middle: m, output: b),
                                      source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
            let f = module.effectiveFactors()
            #expect(f.scale == 1 && f.rank == k)
            for j in 0..<k {
                for i in 0..<inF { #expect(f.a[j, i] == signA[j, i] * (input?[i] ?? 1)) }
                for o in 0..<outF { #expect(f.b[o, j] == b[o] * signB[j, o] * m[j]) }
            }
        }
    }
}
