import Testing
@testable import LoRDBA

@Suite struct SignDescentTests {
    /// A LoRA module with Gaussian factors, its target and the binarized starting state.
    static func problem(r: Int, k: Int, inF: Int, outF: Int, seed: UInt64, weights: [Float]? = nil)
        -> (module: LoRAModule, target: RefinementTarget, state: RefinementState)
    {
        var rng = SeededGenerator(seed: seed)
        let module = LoRAModule(name: "m", a: rng.gaussianMatrix(rows: r, cols: inF), b: rng.gaussianMatrix(rows: outF, cols: r),
                                scale: 0.5, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        let target = RefinementTarget(module, inputSquareMean: weights)
        // k sign channels: random signs, positive scales.
        let signA = Matrix(rows: k, cols: inF, values: (0..<(k * inF)).map { _ in rng.nextGaussian() < 0 ? -1 : 1 })
        let signB = Matrix(rows: k, cols: outF, values: (0..<(k * outF)).map { _ in rng.nextGaussian() < 0 ? -1 : 1 })
        var state = RefinementState(signA: signA, signB: signB, a: (0..<inF).map { _ in 0.5 + rng.nextUnitFloat() },
                                    m: (0..<k).map { _ in 0.1 + rng.nextUnitFloat() }, b: (0..<outF).map { _ in 0.5 + rng.nextUnitFloat() })
        if let weights { state.a = zip(state.a, weights).map { $0 * $1.squareRoot() } }
        ScaleRefit.solveMiddle(&state, target: target)
        return (module, target, state)
    }

    /// Every half-step (columns of S_A, rows of S_B, each with or without its scale) and every
    /// whole search lowers the objective or leaves it, for ranks from 1 to 64.
    @Test(arguments: [1, 3, 16, 64])
    func neverIncreasesTheObjective(k: Int) {
        for seed in [UInt64(1), 2] {
            var (_, target, state) = Self.problem(r: 8, k: k, inF: 96, outF: 80, seed: seed &+ UInt64(k))
            var previous = state.objective(target)
            let tolerance = 1e-5 * target.normSquared
            for round in 0..<3 {
                if round == 1 { state.fixedInputScale = true }
                SignDescent.descendInputColumns(&state, target: target)
                let afterA = state.objective(target)
                #expect(afterA <= previous + tolerance, "k \(k) round \(round): columns of S_A raised \(previous) → \(afterA)")
                SignDescent.descendOutputRows(&state, target: target)
                let afterB = state.objective(target)
                #expect(afterB <= afterA + tolerance, "k \(k) round \(round): rows of S_B raised \(afterA) → \(afterB)")
                previous = afterB
                state.fixedInputScale = false
            }
            let start = state.objective(target)
            let best = SignDescent(rounds: 4).refine(&state, target: target)
            #expect(best <= start + tolerance)
            #expect(abs(state.objective(target) - best) <= 1e-3 * Swift.max(best, 1e-12) + tolerance)
        }
    }

    /// On small k the coordinate flips of one column reach the exact binary least-squares
    /// optimum (found by enumerating all 2^k sign vectors) in most columns, and never end above
    /// the starting objective of the column.
    @Test(arguments: [3, 5, 8])
    func columnStepReachesTheEnumeratedOptimumInMostColumns(k: Int) {
        let (_, target, start) = Self.problem(r: 6, k: k, inF: 200, outF: 40, seed: 40 &+ UInt64(k))
        var state = start
        state.fixedInputScale = true                       // a fixed: the column problem is exactly quadratic
        // The column problem: min_s a²·sᵀGs − 2a·sᵀc, G = PᵀP, c = Pᵀ·X[:, i].
        let p = state.effectiveFactors().bTransposed
        let side = SideGrams(signs: state.signB, scales: state.b, target: target.product.bTransposed)
        let gram = side.gram(scaledBy: state.m)
        let cross = SmallLinearAlgebra.combine(side.crossTransposed(scaledBy: state.m), rows: k, target.product.a)
        let direct = SmallLinearAlgebra.gramFloat(p)
        let scale = direct.map { abs($0) }.max() ?? 1
        #expect(zip(gram, direct).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        func objective(_ s: [Float], column i: Int) -> Double {
            let a = Double(state.a[i])
            var quadratic = 0.0, linear = 0.0
            for j in 0..<k {
                linear += Double(s[j]) * Double(cross.values[j * state.signA.cols + i])
                for l in 0..<k { quadratic += Double(s[j]) * Double(gram[j * k + l]) * Double(s[l]) }
            }
            return a * a * quadratic - 2 * a * linear
        }
        SignDescent.descendInputColumns(&state, target: target)
        var optimal = 0
        let n = state.signA.cols
        for i in 0..<n {
            let before = (0..<k).map { start.signA.values[$0 * n + i] }
            let after = (0..<k).map { state.signA.values[$0 * n + i] }
            var best = Double.infinity
            for code in 0..<(1 << k) {
                let s = (0..<k).map { Float((code >> $0) & 1 == 1 ? -1 : 1) }
                best = Swift.min(best, objective(s, column: i))
            }
            let reached = objective(after, column: i)
            #expect(reached <= objective(before, column: i) + 1e-6 * abs(best))
            if reached <= best + 1e-6 * abs(best) { optimal += 1 }
        }
        #expect(Double(optimal) >= 0.8 * Double(n), "k \(k): \(optimal) of \(n) columns at the optimum")
    }

    /// With calibration weights the search runs on `X·diag(√d)` with `a ⊙ √d`: the weighted
    /// problem and the unweighted problem on the transformed target are the same problem.
    @Test func weightedSearchEqualsTheUnweightedSearchOnTheTransformedProblem() {
        var rng = SeededGenerator(seed: 77)
        let d = (0..<64).map { _ in 0.2 + 2 * rng.nextUnitFloat() }
        let (module, weightedTarget, weightedStart) = Self.problem(r: 5, k: 5, inF: 64, outF: 48, seed: 9, weights: d)
        // The transformed module: A·diag(√d), no weights.
        var scaledA = module.a
        for row in 0..<scaledA.rows { for c in 0..<scaledA.cols { scaledA[row, c] *= d[c].squareRoot() } }
        let transformed = LoRAModule(name: "m", a: scaledA, b: module.b, scale: module.scale, source: module.source)
        let plainTarget = RefinementTarget(transformed)
        #expect(abs(plainTarget.normSquared - weightedTarget.normSquared) <= 1e-6 * plainTarget.normSquared)
        var weighted = weightedStart, unweighted = weightedStart
        let a = SignDescent(rounds: 3).refine(&weighted, target: weightedTarget)
        let b = SignDescent(rounds: 3).refine(&unweighted, target: plainTarget)
        #expect(abs(a - b) <= 1e-4 * a)
        #expect(weighted.signA == unweighted.signA && weighted.signB == unweighted.signB)
    }

    /// On a trained-looking module the search beats the closed-form refit alone by a clear margin.
    @Test func searchImprovesOnTheRefit() {
        let m = FactorizerTests.module(r: 8, inF: 128, outF: 96, seed: 5)
        let target = RefinementTarget(m)
        var state = RefinementState(Binarizer(scaleDType: .f32).binarize(m).module, target: target)
        let refit = ScaleRefit.refine(&state, target: target, sweeps: 8)
        let searched = SignDescent(rounds: 4).refine(&state, target: target)
        #expect(searched < 0.9 * refit)
    }

    /// The C kernels (`lordba_combine`, `lordba_sign_descent`: eight columns in SIMD lanes) give
    /// the scalar Swift results bit for bit on every CPU path: signs, scales and flip counts, for
    /// fixed and free scales, odd shapes, and scales that must be skipped (0, ∞, NaN).
    @Test(arguments: [(1, 1), (3, 7), (8, 8), (16, 9), (17, 100), (64, 33)])
    func kernelsMatchTheScalarSearchOnEveryPath(k: Int, n: Int) {
        var rng = SeededGenerator(seed: UInt64(k * 1000 + n))
        let basis = rng.gaussianMatrix(rows: k, cols: k + 3)
        var gram = [Float](repeating: 0, count: k * k)
        for i in 0..<k { for j in 0..<k { for l in 0..<(k + 3) { gram[i * k + j] += basis[i, l] * basis[j, l] } } }
        let signs = Matrix(rows: k, cols: n, values: (0..<(k * n)).map { _ in rng.nextGaussian() < 0 ? -1 : 1 })
        let cross = rng.gaussianMatrix(rows: k, cols: n, scale: 2)
        var scales = (0..<n).map { _ in 0.2 + rng.nextUnitFloat() }
        for (i, special) in [Float(0), .infinity, .nan].enumerated() where i < n { scales[(i * 5) % n] = special }
        let coefficients = (0..<(5 * k)).map { _ in Float(rng.nextGaussian()) }
        #expect(KernelDispatchTests.onEachPath { _ in SmallLinearAlgebra.combine(coefficients, rows: 5, signs).values.map(\.bitPattern) }
            .allSatisfy { $0 == SignDescentReference.combine(coefficients, rows: 5, signs).values.map(\.bitPattern) })
        for fixed in [true, false] {
            var expectedSigns = signs, expectedScales = scales
            let expectedFlips = SignDescentReference.descend(&expectedSigns, scales: &expectedScales, fixedScales: fixed,
                                                             gram: gram, cross: cross, maximumSweeps: 8)
            #expect(expectedFlips > 0 || k * n < 8)
            let results = KernelDispatchTests.onEachPath { _ in
                var s = signs, a = scales
                let flips = SignDescent.descend(&s, scales: &a, fixedScales: fixed, gram: gram, cross: cross, maximumSweeps: 8)
                return (s, a, flips)
            }
            for (s, a, flips) in results {
                #expect(s.values == expectedSigns.values, "signs, k \(k), n \(n), fixed \(fixed)")
                #expect(a.map(\.bitPattern) == expectedScales.map(\.bitPattern), "scales, k \(k), n \(n), fixed \(fixed)")
                #expect(flips == expectedFlips)
            }
        }
    }
}
