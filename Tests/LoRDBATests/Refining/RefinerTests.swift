import Testing
@testable import LoRDBA

@Suite struct SignRefinerGradientTests {
    static func setup(seed: UInt64, r: Int = 3, k: Int = 4, inF: Int = 7, outF: Int = 5) -> (RefinementState, RefinementTarget) {
        var rng = SeededGenerator(seed: seed)
        let module = LoRAModule(name: "m", a: rng.gaussianMatrix(rows: r, cols: inF), b: rng.gaussianMatrix(rows: outF, cols: r),
                                scale: 0.7, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        let target = RefinementTarget(module)
        // Real-valued "signs" so every entry has a well-defined derivative.
        let state = RefinementState(signA: rng.gaussianMatrix(rows: k, cols: inF), signB: rng.gaussianMatrix(rows: k, cols: outF),
                                    a: (0..<inF).map { _ in 1 + rng.nextUnitFloat() }, m: (0..<k).map { _ in rng.nextGaussian() },
                                    b: (0..<outF).map { _ in 1 + rng.nextUnitFloat() })
        return (state, target)
    }

    /// Central difference of the loss in Double precision along one coordinate.
    static func numeric(_ state: RefinementState, _ target: RefinementTarget, _ nudge: (inout RefinementState, Float) -> Void) -> Double {
        let h: Float = 1e-2
        var plus = state, minus = state
        nudge(&plus, h)
        nudge(&minus, -h)
        return (plus.objective(target) - minus.objective(target)) / Double(2 * h)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func gradientsMatchFiniteDifferences(seed: UInt64) {
        let (state, target) = Self.setup(seed: seed)
        let g = SignRefiner.lossAndGradients(state, target: target)
        #expect(abs(g.loss - state.objective(target)) <= 1e-4 * max(1, g.loss))
        func check(_ analytic: Float, _ nudge: (inout RefinementState, Float) -> Void) {
            let n = Self.numeric(state, target, nudge)
            #expect(abs(Double(analytic) - n) <= 2e-3 * max(1, abs(n)), "analytic \(analytic) numeric \(n)")
        }
        for i in [0, 3, 6] { check(g.a[i]) { $0.a[i] += $1 } }
        for j in 0..<state.k { check(g.m[j]) { $0.m[j] += $1 } }
        for o in [0, 4] { check(g.b[o]) { $0.b[o] += $1 } }
        for e in [0, 9, 27] { check(g.signA.values[e]) { $0.signA.values[e] += $1 } }
        for e in [1, 12, 19] { check(g.signB.values[e]) { $0.signB.values[e] += $1 } }
    }
}

@Suite struct ScaleRefitTests {
    @Test(arguments: [11, 12, 13] as [UInt64])
    func everyUpdateNeverIncreasesTheError(seed: UInt64) {
        let m = FactorizerTests.module(r: 6, inF: 48, outF: 36, seed: seed)
        let target = RefinementTarget(m)
        var state = RefinementState(Binarizer(scaleDType: .f32).binarize(m).module, target: target)
        var previous = state.objective(target)
        for _ in 0..<5 {
            ScaleRefit.solveMiddle(&state, target: target)
            let afterM = state.objective(target)
            ScaleRefit.solveOutput(&state, target: target)
            let afterB = state.objective(target)
            ScaleRefit.solveInput(&state, target: target)
            let afterA = state.objective(target)
            for value in [afterM, afterB, afterA] {
                #expect(value <= previous * (1 + 1e-5))
                previous = value
            }
        }
        let plain = ErrorAnalysis.analyze(original: m, binary: Binarizer(scaleDType: .f32).binarize(m).module).productError
        #expect((previous / target.normSquared).squareRoot() < plain)
    }

    @Test func middleSolveIsTheLeastSquaresOptimum() {
        // With signs and outer scales fixed, perturbing m in any direction cannot help.
        let m = FactorizerTests.module(r: 4, inF: 20, outF: 16, seed: 4)
        let target = RefinementTarget(m)
        var state = RefinementState(Binarizer(scaleDType: .f32).binarize(m).module, target: target)
        let reported = ScaleRefit.solveMiddle(&state, target: target)
        let best = state.objective(target)
        #expect(abs(reported - best) <= 1e-4 * best)
        for j in 0..<state.k {
            for delta in [Float(-1e-3), 1e-3] {
                var probe = state
                probe.m[j] += delta * max(abs(state.m[j]), 1e-6)
                #expect(probe.objective(target) >= best * (1 - 1e-6))
            }
        }
    }
}

@Suite struct SignRefinerTests {
    @Test func bestIterateIsKeptAndNeverWorse() {
        let m = FactorizerTests.module(r: 8, inF: 64, outF: 48, seed: 21)
        let target = RefinementTarget(m)
        var state = RefinementState(Binarizer(scaleDType: .f32).binarize(m).module, target: target)
        ScaleRefit.refine(&state, target: target)
        let start = state.objective(target)
        let loss = SignRefiner(steps: 40).refine(&state, target: target, latent: LowRankProduct(a: m.a, bTransposed: m.b.transposed()))
        #expect(loss <= start * (1 + 1e-5))
        #expect(abs(state.objective(target) - loss) <= 1e-3 * loss)
        #expect(state.signA.values.allSatisfy { $0 == 1 || $0 == -1 })
    }

    @Test(.tags(.slow), .slowNumeric) func reproducibleAndIndependentOfThreadCount() throws {
        var files: [[UInt8]] = []
        let dir = TempDir()
        defer { dir.remove() }
        for threads in [1, 2, 3] {
            var options = ConversionOptions()
            options.threads = threads
            options.pipeline.refineSteps = 6
            options.pipeline.factorization = .rotated
            let path = dir.path + "/t\(threads).lba"
            _ = try Converter(options: options).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: path)
            files.append(try LBAFile(path: path).adapter.modules.flatMap { $0.signA.words + $0.signB.words }.map { UInt8(truncatingIfNeeded: $0) })
        }
        #expect(files[0] == files[1] && files[1] == files[2])
    }
}
