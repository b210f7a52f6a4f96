import Testing
@testable import LoRDBA

@Suite struct MagnitudeFitTests {
    @Test func exactRankOneMagnitudesHaveNoResidual() {
        // |M| = [1 2]ᵀ·[1 2]: σ₁ = 5, u = v = [1, 2] after the √σ split.
        let fit = MagnitudeFit.fit(Matrix([[1, -2], [-2, 4]]))
        #expect(abs(fit.rowScale[0] - 1) < 1e-6 && abs(fit.rowScale[1] - 2) < 1e-6)
        #expect(abs(fit.columnScale[0] - 1) < 1e-6 && abs(fit.columnScale[1] - 2) < 1e-6)
        #expect(fit.residualNorm < 1e-6)
        #expect(fit.residualRatio < 1e-6)
    }

    @Test func diagonalMagnitudesKeepTheLargerEntry() {
        // |M| = diag(3, 1): the fit is 3·e₁e₁ᵀ, residual 1, ρ = 1/3, ε = 1/√10.
        let fit = MagnitudeFit.fit(Matrix([[3, 0], [0, -1]]))
        #expect(abs(fit.rowScale[0] * fit.columnScale[0] - 3) < 1e-6)
        #expect(abs(fit.rowScale[1]) < 1e-6 && abs(fit.columnScale[1]) < 1e-6)
        #expect(abs(fit.residualRatio - 1.0 / 3.0) < 1e-6)
        #expect(abs(fit.relativeError - 1 / 10.0.squareRoot()) < 1e-6)
    }

    @Test func goldenRatioCase() {
        // |M| = [[1,1],[1,0]]: σ₁ = φ, residual² = 3 − φ² = 1/φ², so ρ = 1/φ².
        let phi = (1 + 5.0.squareRoot()) / 2
        let fit = MagnitudeFit.fit(Matrix([[1, -1], [1, 0]]))
        #expect(abs(fit.magnitudeNorm - phi) < 1e-6)
        #expect(abs(fit.residualRatio - 1 / (phi * phi)) < 1e-6)
        #expect(fit.rowScale.allSatisfy { $0 >= 0 } && fit.columnScale.allSatisfy { $0 >= 0 })
        // u ∝ [φ, 1]
        #expect(abs(Double(fit.rowScale[0] / fit.rowScale[1]) - phi) < 1e-5)
    }

    @Test func zeroMatrixFitsToZero() {
        let fit = MagnitudeFit.fit(Matrix(rows: 3, cols: 5))
        #expect(fit.residualRatio == 0 && fit.relativeError == 0)
        #expect(fit.rowScale == [0, 0, 0])
    }

    @Test(arguments: [(2, 7), (8, 384), (16, 100), (5, 1)])
    func identityHoldsOnRandomFactors(rows: Int, cols: Int) {
        var rng = SeededGenerator(seed: UInt64(rows * 1000 + cols))
        let m = rng.gaussianMatrix(rows: rows, cols: cols)
        let fit = MagnitudeFit.fit(m)
        // ‖M − sign(M)⊙uvᵀ‖ computed densely equals the residual ‖|M| − uvᵀ‖.
        var direct = 0.0
        for i in 0..<rows {
            for j in 0..<cols {
                let approx = (m[i, j] < 0 ? -1 : 1) * fit.rowScale[i] * fit.columnScale[j]
                direct += Double(m[i, j] - approx) * Double(m[i, j] - approx)
            }
        }
        #expect(abs(direct.squareRoot() - fit.residualNorm) <= 1e-5 * fit.norm)
        let rho = fit.residualRatio
        #expect(abs(fit.relativeError - rho / (1 + rho * rho).squareRoot()) < 1e-5)
    }
}

@Suite struct BinarizerTests {
    static func module(a: Matrix, b: Matrix, scale: Double) -> LoRAModule {
        LoRAModule(name: "m", a: a, b: b, scale: scale,
                   source: .init(aTensor: "m.lora_A.weight", bTensor: "m.lora_B.weight", dtype: .f32))
    }

    @Test func handWorkedModuleIsExact() {
        // |A| = [1,2]ᵀ[1,2,2], |B| = [3,1]ᵀ[1,2]: both rank-1, so signs + scales are exact.
        let a = Matrix([[1, -2, 2], [-2, 4, -4]])
        let b = Matrix([[3, -6], [-1, 2]])
        let result = Binarizer(scaleDType: .f32).binarize(Self.module(a: a, b: b, scale: 0.5))
        let binary = result.module
        #expect(binary.scales.input == [0.5, 1, 1])           // v_A normalised to max 1
        #expect(binary.scales.output.map { ($0 * 3).rounded() } == [3, 1])  // u_B ∝ [3, 1]
        #expect(binary.signA.isNegative(row: 0, col: 1) && !binary.signA.isNegative(row: 0, col: 2))
        #expect(binary.signB.isNegative(row: 1, col: 0) && !binary.signB.isNegative(row: 1, col: 1))
        // B̂Â equals s·B·A entry by entry.
        let hat = binary.effectiveFactors()
        let hatA = hat.a, hatB = hat.b
        for o in 0..<2 {
            for i in 0..<3 {
                var want: Float = 0, got: Float = 0
                for j in 0..<2 {
                    want += 0.5 * b[o, j] * a[j, i]
                    got += hatB[o, j] * hatA[j, i]
                }
                #expect(abs(want - got) < 1e-5)
            }
        }
        let errors = ErrorAnalysis.analyze(original: Self.module(a: a, b: b, scale: 0.5), binary: binary,
                                           fits: (result.fitA, result.fitB))
        #expect(errors.productError < 1e-6)
        #expect(abs(errors.cosine - 1) < 1e-9)
    }

    @Test func zeroGetsPositiveSign() {
        let s = SignMatrix(signsOf: Matrix([[0, -0.0, -1, 2]]))
        #expect(s.words == [0b0100])
    }

    @Test func outerScalesAreNormalisedAndRounded() {
        var rng = SeededGenerator(seed: 7)
        let m = Self.module(a: rng.gaussianMatrix(rows: 4, cols: 50, scale: 0.01),
                            b: rng.gaussianMatrix(rows: 30, cols: 4, scale: 0.001), scale: 2)
        let binary = Binarizer(scaleDType: .f16).binarize(m).module
        #expect(binary.scales.input!.max() == 1)
        #expect(binary.scales.output.max() == 1)
        #expect(binary.scales.input!.allSatisfy { Float(Float16($0)) == $0 })
        #expect(binary.scales.output.allSatisfy { Float(Float16($0)) == $0 })
    }
}
