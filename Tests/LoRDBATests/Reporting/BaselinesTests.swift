import Testing
@testable import LoRDBA

/// Baselines (SVD truncation, sign per factor and per row, 2-bit rowwise) against dense references and worked cases.
@Suite struct BaselinesTests {
    static let shapes: [(r: Int, inF: Int, outF: Int)] = [(1, 5, 3), (3, 17, 29), (8, 64, 64), (16, 100, 37), (4, 200, 1), (6, 9, 40)]

    static func module(_ a: Matrix, _ b: Matrix, scale: Double = 1) -> LoRAModule {
        LoRAModule(name: "m", a: a, b: b, scale: scale, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
    }

    static func random(_ index: Int) -> LoRAModule {
        let (r, inF, outF) = shapes[index]
        var rng = SeededGenerator(seed: UInt64(1000 + index))
        return module(rng.gaussianMatrix(rows: r, cols: inF, scale: 0.02),
                      rng.gaussianMatrix(rows: outF, cols: r, scale: 0.005), scale: 1.5)
    }

    /// Agreement to 1e-6 relative, for errors of at least 1e-2 (below that, 1e-8 absolute).
    static func agrees(_ measured: Double, _ dense: Double) -> Bool {
        abs(measured - dense) <= 1e-6 * max(dense, 1e-2)
    }

    @Test(arguments: shapes.indices)
    func lowRankErrorsMatchDense(index: Int) {
        let m = Self.random(index)
        let kept = max(1, m.rank / 2)
        let budget = 2 * kept * (m.inFeatures + m.outFeatures)
        let e = Baselines.measure(m, budgetBytes: budget)
        let reference = DenseBaselines.product(m)

        #expect(e.svdRank == kept)
        #expect(e.svdBytes == budget)

        // SVD truncation: the measured error is that of the stored (fp16) factors…
        let truncation = Baselines.svdTruncation(m, rank: kept)
        #expect(truncation.bTransposed.values.allSatisfy { Float(Float16($0)) == $0 })
        let denseTruncation = DenseBaselines.relativeError(
            reference, DenseBaselines.product(truncation))
        #expect(Self.agrees(e.svdTruncation, denseTruncation))
        // …and before rounding the factors give the Eckart–Young optimum.
        let optimum = DenseBaselines.optimalTruncationError(reference, rows: m.outFeatures, cols: m.inFeatures, rank: kept)
        let exact = Baselines.svdTruncation(m, rank: kept, roundToHalf: false)
        let exactError = LowRankProduct.compare(reference: LowRankProduct(m), approximation: exact).relativeError
        // 1e-6 relative, plus the Float storage of the unrounded factors (~1e-7) when the truncation is exact.
        #expect(abs(exactError - optimum) <= 1e-6 * max(optimum, 1e-2) + 1e-6)
        // Rounding to fp16 cannot beat the optimum and costs only fp16-sized error.
        #expect(e.svdTruncation >= optimum - 1e-6)
        #expect(e.svdTruncation <= optimum + 2e-3)

        let bitDelta = DenseBaselines.product(b: DenseBaselines.bitDelta(m.b), a: DenseBaselines.bitDelta(m.a), scale: m.scale)
        #expect(Self.agrees(e.signPerFactor, DenseBaselines.relativeError(reference, bitDelta)))

        let xnor = DenseBaselines.product(b: DenseBaselines.xnor(m.b), a: DenseBaselines.xnor(m.a), scale: m.scale)
        #expect(Self.agrees(e.signPerRow, DenseBaselines.relativeError(reference, xnor)))

        let twoBit = DenseBaselines.product(b: TwoBitQuantizer.quantizeRows(m.b).values,
                                            a: TwoBitQuantizer.quantizeRows(m.a).values, scale: m.scale)
        #expect(Self.agrees(e.twoBitRowwise, DenseBaselines.relativeError(reference, twoBit)))

        #expect(e.twoBitBytes == (2 * m.rank * (m.inFeatures + m.outFeatures) + 7) / 8 + 2 * (m.rank + m.outFeatures))
        // Per-row scales fit at least as well as one scale per factor, 2 bits better than 1 (on Gaussian factors).
        if m.rank > 1 && m.outFeatures > 1 {
            #expect(e.signPerRow < e.signPerFactor)
            #expect(e.twoBitRowwise < e.signPerRow)
        }
    }

    @Test(arguments: shapes.indices)
    func fullRankTruncationIsExactUpToHalfRounding(index: Int) {
        let m = Self.random(index)
        let e = Baselines.measure(m, budgetBytes: 2 * m.rank * (m.inFeatures + m.outFeatures))
        #expect(e.svdRank == m.rank)
        #expect(e.svdTruncation < 1e-3)
        #expect(e.svdTruncation > 0)   // fp16 rounding of Gaussian values is never exact
    }

    // MARK: - Rank choice

    @Test func svdRankFollowsTheBudget() {
        let (inF, outF) = (10, 6)
        let perRank = 2 * (inF + outF)
        func rank(_ budget: Int, r: Int = 8) -> Int {
            Baselines.svdRank(budgetBytes: budget, rank: r, inFeatures: inF, outFeatures: outF)
        }
        #expect(rank(3 * perRank) == 3)
        #expect(rank(3 * perRank + perRank / 2 - 1) == 3)
        #expect(rank(3 * perRank + perRank / 2 + 1) == 4)
        #expect(rank(3 * perRank + perRank / 2) == 3)    // a tie goes to the smaller rank
        #expect(rank(1) == 1)
        #expect(rank(0) == 1)
        #expect(rank(perRank / 3) == 1)
        #expect(rank(100 * perRank) == 8)
        #expect(rank(100 * perRank, r: 2) == 2)
        #expect(rank(5, r: 0) == 0)
        let m = Self.module(Matrix(rows: 8, cols: inF, repeating: 0.1), Matrix(rows: outF, cols: 8, repeating: 0.1))
        let e = Baselines.measure(m, budgetBytes: 3 * perRank)
        #expect(e.svdRank == 3)
        #expect(e.svdBytes == 3 * perRank)
        #expect(Baselines.measure(m, budgetBytes: 7).svdRank == 1)
    }

    // MARK: - Hand-worked cases

    /// `A = [0, 2]`, `B = [0, 2]ᵀ`: `BA = 4·e₂e₂ᵀ`, whose rank-1 factors `2·e₂` are exact in fp16.
    @Test func rankOneTruncationIsExact() {
        let m = Self.module(Matrix([[0, 2]]), Matrix([[0], [2]]))
        let e = Baselines.measure(m, budgetBytes: 1)
        #expect(e.svdRank == 1)
        #expect(e.svdBytes == 8)
        #expect(e.svdTruncation <= 1e-12)
        // A generic rank-1 adapter: only the fp16 rounding of √σ·u and √σ·v remains.
        let generic = Self.module(Matrix([[3, 4, -1]]), Matrix([[1], [-2], [0.5]]), scale: 0.5)
        let g = Baselines.measure(generic, budgetBytes: 1)
        #expect(g.svdTruncation < 1e-3)
    }

    /// `s·B·A = diag(3, 1)`: dropping the second singular value leaves `1/√10`.
    @Test func diagonalTruncation() {
        let m = Self.module(Matrix([[3, 0], [0, 1]]), Matrix([[1, 0], [0, 1]]))
        let one = Baselines.measure(m, budgetBytes: 8)
        #expect(one.svdRank == 1)
        #expect(abs(one.svdTruncation - 1 / 10.0.squareRoot()) < 1e-3)
        let two = Baselines.measure(m, budgetBytes: 16)
        #expect(two.svdRank == 2)
        #expect(two.svdTruncation < 1e-3)
    }

    /// Every entry of `A` is ±0.5 and of `B` ±0.25: one scale per factor is already exact.
    @Test func equalMagnitudesAreExactForSigns() {
        let m = Self.module(Matrix([[0.5, -0.5, 0.5], [-0.5, -0.5, 0.5]]),
                            Matrix([[0.25, -0.25], [-0.25, -0.25], [0.25, 0.25], [0.25, -0.25]]), scale: 2)
        let e = Baselines.measure(m, budgetBytes: 1)
        #expect(e.signPerFactor <= 1e-7)
        #expect(e.signPerRow <= 1e-7)
    }

    /// `A = [[1, −1], [2, 2]]`, `B = I`, so `BA = A` (‖·‖² = 10).
    /// BitDelta: `α = 1.5`, `β = 0.5` and `sign(0) = +1` makes `B̂ = 0.5·𝟙`, so `B̂Â = [[1.5, 0], [1.5, 0]]`:
    /// error² = (0.25 + 1 + 0.25 + 4)/10 = 0.55.
    /// XNOR: `Â = A` (rows of equal magnitude), `B̂` rows `[0.5, 0.5]`, so `B̂Â = [[1.5, 0.5], [1.5, 0.5]]`:
    /// error² = (0.25 + 2.25 + 0.25 + 2.25)/10 = 0.5.
    @Test func perFactorAgainstPerRowScales() {
        let m = Self.module(Matrix([[1, -1], [2, 2]]), Matrix([[1, 0], [0, 1]]))
        let e = Baselines.measure(m, budgetBytes: 1)
        #expect(abs(e.signPerFactor - 0.55.squareRoot()) < 1e-9)
        #expect(abs(e.signPerRow - 0.5.squareRoot()) < 1e-9)
    }

    /// Rows already on a 2-bit grid `{−3, −1, 1, 3}·Δ/2` are reproduced exactly.
    @Test func twoBitOnGridIsExact() {
        let m = Self.module(Matrix([[0.25, -0.75, 0.25]]), Matrix([[0.5], [-1.5]]), scale: 3)
        let e = Baselines.measure(m, budgetBytes: 1)
        #expect(e.twoBitRowwise <= 1e-7)
        #expect(e.twoBitBytes == 2 + 2 * 3)   // ⌈2·1·5/8⌉ + 2·(1 + 2)
        let q = TwoBitQuantizer.quantizeRows(Matrix([[0.25, -0.75, 0.25, 0.75], [-3, 1, 1, -1]]))
        #expect(q.steps == [0.5, 2])
        #expect(q.values == Matrix([[0.25, -0.75, 0.25, 0.75], [-3, 1, 1, -1]]))
    }

    /// Row `[0, 1]`: the splits give Δ = 1/3 (error 0.5), 0.6 (error 0.1) and 1 (error 0.5),
    /// so Δ = 0.6 and the row becomes `[0.3, 0.9]` (absmax would give Δ = 2/3, error 1/9).
    @Test func twoBitStepIsTheMSEOptimum() {
        #expect(abs(TwoBitQuantizer.optimalStep([Float(0), 1]) - 0.6) < 1e-12)
        let q = TwoBitQuantizer.quantizeRows(Matrix([[0, 1]]))
        #expect(abs(q.values[0, 0] - 0.3) < 1e-6 && abs(q.values[0, 1] - 0.9) < 1e-6)
        #expect(TwoBitQuantizer.optimalStep([Float]()) == 0)
        #expect(TwoBitQuantizer.optimalStep([Float(0), 0, -0.0]) == 0)
        #expect(TwoBitQuantizer.quantizeRows(Matrix([[0, 0]])).values == Matrix([[0, 0]]))
    }

    /// No step on a fine grid beats the chosen one (brute force, random rows).
    @Test func twoBitStepBeatsEveryOtherStep() {
        var rng = SeededGenerator(seed: 7)
        for n in [1, 2, 3, 8, 33, 200] {
            let row = (0..<n).map { _ in rng.nextGaussian() * (rng.nextUnitFloat() < 0.1 ? 5 : 1) }
            func error(_ step: Double) -> Double {
                row.reduce(0) { sum, x in
                    let d = Double(x) - Double(TwoBitQuantizer.quantize(x, step: Float(step)))
                    return sum + d * d
                }
            }
            let best = TwoBitQuantizer.optimalStep(row)
            let chosen = error(best)
            let peak = Double(row.map { abs($0) }.max()!)
            let bestOnGrid = (1...4000).map { error(peak * 2 * Double($0) / 4000) }.min()!
            #expect(bestOnGrid >= chosen - 1e-9 * max(chosen, 1), "n = \(n)")
            #expect(error(peak / 1.5) >= chosen - 1e-12)
        }
    }

    // MARK: - Degenerate inputs

    @Test func rankDeficientInputsStayFinite() {
        var rng = SeededGenerator(seed: 11)
        // A with a zero row, B with a zero column elsewhere: the product has rank 2 of r = 4.
        var a = rng.gaussianMatrix(rows: 4, cols: 12, scale: 0.1)
        var b = rng.gaussianMatrix(rows: 7, cols: 4, scale: 0.1)
        for c in 0..<12 { a[1, c] = 0 }
        for o in 0..<7 { b[o, 3] = 0 }
        let m = Self.module(a, b)
        for budget in [1, 2 * 19, 2 * 2 * 19, 2 * 4 * 19] {
            let e = Baselines.measure(m, budgetBytes: budget)
            for value in [e.svdTruncation, e.signPerFactor, e.signPerRow, e.twoBitRowwise] {
                #expect(value.isFinite && value >= 0 && value <= 1.5)
            }
            if e.svdRank >= 2 { #expect(e.svdTruncation < 1e-3) }
        }
        // All-zero adapters and a zero B: the product is 0 and so is every approximation.
        for zero in [Self.module(Matrix(rows: 3, cols: 5), Matrix(rows: 4, cols: 3)),
                     Self.module(a, Matrix(rows: 7, cols: 4))] {
            let e = Baselines.measure(zero, budgetBytes: 50)
            #expect(e == BaselineErrors(svdRank: e.svdRank, svdBytes: e.svdBytes, svdTruncation: 0, signPerFactor: 0,
                                        signPerRow: 0, twoBitRowwise: 0, twoBitBytes: e.twoBitBytes))
            #expect(e.svdRank >= 1)
        }
        // A rank-1 product spread over r = 3 identical channels.
        let repeated = Self.module(Matrix([[1, 2, 3], [1, 2, 3], [1, 2, 3]]), Matrix([[1, 1, 1], [2, 2, 2]]))
        for rank in 1...3 {
            let e = Baselines.measure(repeated, budgetBytes: rank * 2 * 5)
            #expect(e.svdRank == rank)
            #expect(e.svdTruncation < 1e-3)
        }
    }

    // MARK: - Real adapters

    @Test(.tags(.slow), .slowNumeric, arguments: ["minilm-cls-r8", "tiny-llama-lora-f16"])
    func samplesGiveSaneErrors(sample: String) throws {
        let source = try AdapterSource.open(ReadingFixtures.sample(sample))
        #expect(!source.modules.isEmpty)
        for spec in source.modules {
            let m = try source.load(spec)
            let (r, inF, outF) = (m.rank, m.inFeatures, m.outFeatures)
            let lbaBytes = (r * (inF + outF) + 7) / 8 + 2 * (inF + outF) + 4 * r
            let e = Baselines.measure(m, budgetBytes: lbaBytes)
            #expect((1...r).contains(e.svdRank))
            for value in [e.svdTruncation, e.signPerFactor, e.signPerRow, e.twoBitRowwise] {
                #expect(value.isFinite && value >= 0 && value <= 1.5, "\(spec.name)")
            }
            #expect(Baselines.svdRank(budgetBytes: 2 * r * (inF + outF), rank: r, inFeatures: inF, outFeatures: outF) == r)
            let full = LowRankProduct.compare(reference: LowRankProduct(m), approximation: Baselines.svdTruncation(m, rank: r))
            #expect(full.relativeError < 2e-3, "\(spec.name): \(full.relativeError)")
        }
    }
}
