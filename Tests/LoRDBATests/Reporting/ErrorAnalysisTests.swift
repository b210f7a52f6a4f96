import Testing
@testable import LoRDBA

@Suite struct ErrorAnalysisTests {
    /// Dense `‖sBA − B̂Â‖/‖sBA‖` and cosine, forming the full product (small shapes only).
    static func dense(_ m: LoRAModule, _ binary: BinaryModule) -> (error: Double, cosine: Double) {
        let factors = binary.effectiveFactors()
        let hatA = factors.a, hatB = factors.b
        var diff = 0.0, ref = 0.0, dot = 0.0, hat = 0.0
        for o in 0..<m.outFeatures {
            for i in 0..<m.inFeatures {
                var x = 0.0, y = 0.0
                for j in 0..<m.rank { x += m.scale * Double(m.b[o, j]) * Double(m.a[j, i]) }
                for j in 0..<binary.binaryRank { y += Double(hatB[o, j]) * Double(hatA[j, i]) }
                diff += (x - y) * (x - y); ref += x * x; dot += x * y; hat += y * y
            }
        }
        return ((diff / ref).squareRoot(), dot / (ref * hat).squareRoot())
    }

    static let shapes: [(r: Int, inF: Int, outF: Int)] = [(1, 5, 3), (3, 17, 29), (8, 64, 64), (16, 100, 37), (4, 200, 1)]

    @Test(arguments: shapes.indices)
    func lowRankErrorMatchesDenseAndBoundHolds(index: Int) {
        let (r, inF, outF) = Self.shapes[index]
        for dtype in ScaleDType.allCases {
            var rng = SeededGenerator(seed: UInt64(index * 31 + dtype.byteWidth))
            let m = LoRAModule(name: "m", a: rng.gaussianMatrix(rows: r, cols: inF, scale: 0.02),
                               b: rng.gaussianMatrix(rows: outF, cols: r, scale: 0.005), scale: 1.5,
                               source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
            let result = Binarizer(scaleDType: dtype).binarize(m)
            let e = ErrorAnalysis.analyze(original: m, binary: result.module, fits: (result.fitA, result.fitB))
            let d = Self.dense(m, result.module)
            // Relative agreement to 1e-6; below ~1e-8 of ‖BA‖ the Gram form hits double cancellation.
            #expect(abs(e.productError - d.error) <= 1e-6 * max(d.error, 1e-2))
            #expect(abs(e.cosine - d.cosine) <= 1e-6)
            let bound = try! #require(e.productErrorBound)
            #expect(bound >= e.productError)
            #expect(e.identityApplies)
            if dtype == .f32 {
                // With lossless scales the stored factors are the optimal fits: ε = ρ/√(1+ρ²).
                for (rho, eps) in [(e.rhoA!, e.errorA!), (e.rhoB!, e.errorB!)] {
                    #expect(abs(eps - rho / (1 + rho * rho).squareRoot()) < 1e-5)
                }
            }
        }
    }

    @Test func zeroAdapterHasZeroError() {
        let m = LoRAModule(name: "m", a: Matrix(rows: 2, cols: 3, repeating: 0.1), b: Matrix(rows: 4, cols: 2),
                           scale: 1, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        let result = Binarizer().binarize(m)
        let e = ErrorAnalysis.analyze(original: m, binary: result.module, fits: (result.fitA, result.fitB))
        #expect(e.productError == 0)
        #expect(e.productNorm == 0)
    }
}

@Suite struct HandWorkedErrorTests {
    /// A = diag(3, −1), B = diag(2, 1), s = 1. The rank-1 magnitude fits keep the large entries:
    /// Â = diag(3, 0), B̂ = diag(2, 0), so B̂Â = diag(6, 0) against BA = diag(6, −1):
    /// error = 1/√37, cosine = 6/√37, ρ_A = 1/3, ρ_B = 1/2,
    /// bound = (‖B−B̂‖·‖A‖₂ + ‖B̂‖₂·‖A−Â‖)/‖BA‖ = (1·3 + 2·1)/√37.
    @Test func diagonalAdapter() {
        let m = LoRAModule(name: "d", a: Matrix([[3, 0], [0, -1]]), b: Matrix([[2, 0], [0, 1]]), scale: 1,
                           source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        let result = Binarizer().binarize(m)
        let e = ErrorAnalysis.analyze(original: m, binary: result.module, fits: (result.fitA, result.fitB))
        let root37 = 37.0.squareRoot()
        #expect(abs(e.productError - 1 / root37) < 1e-6)
        #expect(abs(e.cosine - 6 / root37) < 1e-6)
        #expect(abs(e.rhoA! - 1.0 / 3) < 1e-6)
        #expect(abs(e.rhoB! - 1.0 / 2) < 1e-6)
        #expect(abs(e.errorA! - 1 / 10.0.squareRoot()) < 1e-6)
        #expect(abs(e.errorB! - 1 / 5.0.squareRoot()) < 1e-6)
        #expect(abs(e.productErrorBound! - 5 / root37) < 1e-6)
        #expect(abs(e.productNorm - root37) < 1e-6)
    }

    @Test(arguments: ["minilm-cls-r8", "tiny-llama-lora-f16"])
    func identityAndBoundOnSamples(sample: String) throws {
        let source = try AdapterSource.open(ReadingFixtures.sample(sample))
        for spec in source.modules {
            let module = try source.load(spec)
            let result = Binarizer(scaleDType: .f32).binarize(module)
            let e = ErrorAnalysis.analyze(original: module, binary: result.module, fits: (result.fitA, result.fitB))
            #expect(e.productErrorBound! >= e.productError)
            for (rho, eps) in [(e.rhoA!, e.errorA!), (e.rhoB!, e.errorB!)] {
                #expect(abs(eps - rho / (1 + rho * rho).squareRoot()) < 1e-5)
            }
        }
    }

    /// The float-block Grams against exact double products, on every module of the samples:
    /// plain binarization, and (slow) the default pipeline's stored modules. Above
    /// `ErrorAnalysis.exactBelow` the figures agree within 1e-6 relative; below it `analyze`
    /// returns the exact figures.
    @Test(arguments: ["minilm-cls-r8", "tiny-llama-lora-f16"])
    func floatBlocksAgreeWithExactProductsOnSamples(sample: String) throws {
        try Self.compareFloatBlocksWithExact(sample: sample) { module in
            let plain = Binarizer().binarize(module)
            return (plain.module, (plain.fitA, plain.fitB))
        }
    }

    @Test(.tags(.slow), .slowNumeric, arguments: ["minilm-cls-r8", "tiny-llama-lora-f16"])
    func floatBlocksAgreeWithExactProductsOnRefinedModules(sample: String) throws {
        try Self.compareFloatBlocksWithExact(sample: sample) { module in
            (ModulePipeline(options: PipelineOptions()).run(module).module, nil)
        }
    }

    static func compareFloatBlocksWithExact(
        sample: String, binarize: (LoRAModule) -> (BinaryModule, (a: MagnitudeFit, b: MagnitudeFit)?)
    ) throws {
        let source = try AdapterSource.open(ReadingFixtures.sample(sample))
        var compared = 0
        for spec in source.modules {
            let module = try source.load(spec)
            let (binary, fits) = binarize(module)
            let blocks = ErrorAnalysis.analyze(original: module, binary: binary, fits: fits, exact: false)
            let exact = ErrorAnalysis.analyze(original: module, binary: binary, fits: fits, exact: true)
            let chosen = ErrorAnalysis.analyze(original: module, binary: binary, fits: fits)
            if exact.productError < ErrorAnalysis.exactBelow * 0.99 {
                #expect(chosen == exact, "\(spec.name): below the threshold the exact figures are reported")
                continue
            }
            compared += 1
            #expect(abs(blocks.productError - exact.productError) <= 1e-6 * exact.productError, "\(spec.name)")
            #expect(abs(blocks.cosine - exact.cosine) <= 1e-6, "\(spec.name)")
            #expect(abs(blocks.productNorm - exact.productNorm) <= 1e-6 * exact.productNorm, "\(spec.name)")
            for (a, b) in [(blocks.errorA, exact.errorA), (blocks.errorB, exact.errorB), (blocks.productErrorBound, exact.productErrorBound)] {
                #expect((a == nil) == (b == nil))
                if let a, let b { #expect(abs(a - b) <= 1e-6 * b, "\(spec.name)") }
            }
        }
        #expect(compared > 0)
    }
}
