import Testing
@testable import LoRDBA

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

/// The default pipeline with the seeded rotation: the same bytes at any thread count.
@Suite struct RotatedPipelineTests {
    @Test(.tags(.slow), .slowNumeric) func reproducibleAndIndependentOfThreadCount() throws {
        var files: [[UInt8]] = []
        let dir = TempDir()
        defer { dir.remove() }
        for threads in [1, 2, 3] {
            var options = ConversionOptions()
            options.threads = threads
            options.pipeline.factorization = .rotated
            let path = dir.path + "/t\(threads).lba"
            _ = try Converter(options: options).convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: path)
            files.append(try LBAFile(path: path).adapter.modules.flatMap { $0.signA.words + $0.signB.words }.map { UInt8(truncatingIfNeeded: $0) })
        }
        #expect(files[0] == files[1] && files[1] == files[2])
    }
}
