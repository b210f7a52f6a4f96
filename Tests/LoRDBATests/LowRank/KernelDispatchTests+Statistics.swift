import Testing
@testable import LoRDBA

/// The report's Grams and factor differences (SideStatistics) and ErrorAnalysis on every CPU path.
extension KernelDispatchTests {
    /// Random factors whose entries span many orders of magnitude (and whose rows differ in scale).
    static func wideRange(_ rng: inout SeededGenerator, rows: Int, cols: Int) -> Matrix {
        var m = Matrix(rows: rows, cols: cols)
        for r in 0..<rows {
            let rowScale = Float.pow2(Int(rng.nextUnitFloat() * 60) - 30)
            for c in 0..<cols {
                let magnitude = Float.pow2(Int(rng.nextUnitFloat() * 24) - 12)
                m[r, c] = (rng.nextUnitFloat() < 0.5 ? -1 : 1) * magnitude * rowScale * (1 + rng.nextUnitFloat())
            }
        }
        return m
    }

    /// Exact sums are double-accurate; float blocks within 1e-6 of Σ|x·y| (the bound is 17u per
    /// 128-column block), on values spanning 2^±42 (scaled by powers of two inside the kernel).
    @Test(arguments: [true, false])
    func reportGramsAreAccurateOnWideDynamicRange(exact: Bool) {
        var rng = SeededGenerator(seed: 11)
        var worst = 0.0
        let tolerance = exact ? 1e-12 : 1e-6
        for (p, q, n) in [(1, 1, 1), (3, 5, 63), (16, 16, 64), (7, 9, 65), (16, 32, 1000), (2, 3, 4099)] {
            let x = Self.wideRange(&rng, rows: p, cols: n)
            let signSource = rng.gaussianMatrix(rows: q, cols: n)
            let signs = SignMatrix(signsOf: signSource)
            let rowScale = (0..<q).map { _ in Float.pow2(Int(rng.nextUnitFloat() * 40) - 20) * (1 + rng.nextUnitFloat()) }
            let colScale = (0..<n).map { _ in Float.pow2(Int(rng.nextUnitFloat() * 16) - 8) * rng.nextUnitFloat() }
            var y = signs.dense()
            for j in 0..<q { for c in 0..<n { y[j, c] *= rowScale[j] * colScale[c] } }
            // Exact references (double products of floats are exact; sums in double).
            func reference(_ a: Matrix, _ i: Int, _ b: Matrix, _ j: Int) -> (value: Double, magnitude: Double) {
                var s = 0.0, m = 0.0
                for c in 0..<n { let t = Double(a[i, c]) * Double(b[j, c]); s += t; m += abs(t) }
                return (s, m)
            }
            // X given as its transpose [n, p] read through strides, as the B side is.
            let xT = x.transposed()
            let results = Self.onEachPath { _ in
                SideStatistics(factor: xT, rowStride: 1, columnStride: p, rows: p, signs: signs,
                               rowScale: rowScale, columnScale: colScale, columns: n, g: nil, exact: exact)
            }
            for s in results {
                #expect(s.xx == results[0].xx && s.yy == results[0].yy && s.xy == results[0].xy, "paths differ")
                for i in 0..<p {
                    for j in 0..<p {
                        let e = reference(x, i, x, j)
                        let error = abs(s.xx[i * p + j] - e.value) / e.magnitude
                        worst = max(worst, error)
                        #expect(error < tolerance, "xx[\(i),\(j)] of \(p)×\(n)")
                    }
                    for j in 0..<q {
                        let e = reference(x, i, y, j)
                        let error = e.magnitude > 0 ? abs(s.xy[i * q + j] - e.value) / e.magnitude : abs(s.xy[i * q + j])
                        worst = max(worst, error)
                        #expect(error < tolerance, "xy[\(i),\(j)] of \(p)×\(q)×\(n)")
                    }
                }
                for i in 0..<q {
                    for j in 0..<q {
                        let e = reference(y, i, y, j)
                        let error = e.magnitude > 0 ? abs(s.yy[i * q + j] - e.value) / e.magnitude : abs(s.yy[i * q + j])
                        worst = max(worst, error)
                        #expect(error < tolerance, "yy[\(i),\(j)] of \(q)×\(n)")
                    }
                }
            }
        }
        #expect(worst < tolerance)
        if !exact { #expect(worst > 1e-12, "float blocks were not used") }
    }

    /// Values whose squares overflow Float (and scales far below 1) still give finite, accurate
    /// float-block Grams and factor differences: the kernel works on power-of-two-scaled copies.
    @Test func floatBlocksSurviveValuesWhoseSquaresOverflowFloat() {
        var rng = SeededGenerator(seed: 12)
        let (p, n) = (3, 300)
        var x = rng.gaussianMatrix(rows: p, cols: n)
        x.values = x.values.map { $0 * 1e25 }
        let signs = SignMatrix(signsOf: x)
        let colScale = (0..<n).map { _ in 1e-30 * (1 + rng.nextUnitFloat()) }
        let g = (0..<p).map { _ in 1e50 * Double(1 + rng.nextUnitFloat()) }
        let results = Self.onEachPath { _ in
            (SideStatistics(factor: x, rowStride: n, columnStride: 1, rows: p, signs: signs, rowScale: nil,
                            columnScale: colScale, columns: n, g: g, exact: false),
             SideStatistics(factor: x, rowStride: n, columnStride: 1, rows: p, signs: signs, rowScale: nil,
                            columnScale: colScale, columns: n, g: g, exact: true))
        }
        for (blocks, exact) in results {
            for (a, b) in zip(blocks.xx + blocks.yy + blocks.xy, exact.xx + exact.yy + exact.xy) {
                #expect(a.isFinite && abs(a - b) <= 1e-6 * max(abs(b), exact.xx[0]), "\(a) vs \(b)")
            }
            #expect(blocks.differenceSquared.isFinite)
            #expect(abs(blocks.differenceSquared - exact.differenceSquared) <= 1e-5 * exact.differenceSquared)
        }
    }

    @Test func errorAnalysisAgreesWithTheExactDoubleComparison() {
        var rng = SeededGenerator(seed: 5)
        for (r, inF, outF) in [(1, 3, 2), (4, 65, 130), (16, 300, 257)] {
            let m = LoRAModule(name: "m", a: rng.gaussianMatrix(rows: r, cols: inF, scale: 0.02),
                               b: rng.gaussianMatrix(rows: outF, cols: r, scale: 0.003), scale: 2,
                               source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
            // f16 scales: the identity below holds for the fitted scales, which f16 keeps to 1e-3
            // (the default e4m3 rounds them further).
            let plain = Binarizer(scaleDType: .f16).binarize(m)
            let exact = LowRankProduct.compare(
                reference: LowRankProduct(m),
                approximation: plain.module.effectiveFactors())
            for errors in Self.onEachPath({ _ in ErrorAnalysis.analyze(original: m, binary: plain.module, fits: (plain.fitA, plain.fitB)) }) {
                #expect(abs(errors.productError - exact.relativeError) <= 1e-6 * exact.relativeError)
                #expect(abs(errors.cosine - exact.cosine) <= 1e-6)
                #expect(abs(errors.productNorm - exact.referenceNorm) <= 1e-6 * exact.referenceNorm)
                // The identity ε = ρ/√(1+ρ²) ties the fused factor differences to the fits.
                let rho = errors.rhoA!
                #expect(abs(errors.errorA! - rho / (1 + rho * rho).squareRoot()) < 1e-3)
                #expect(errors.productError <= errors.productErrorBound! * (1 + 1e-6))
            }
        }
    }
}

private extension Float {
    static func pow2(_ e: Int) -> Float { Float(sign: .plus, exponent: e, significand: 1) }
}
