import Testing
@testable import LoRDBA

/// The C kernels on every CPU path this machine can run (SSE2 always, AVX2 when present),
/// against scalar Swift references on odd shapes; bit-identical where the result feeds bytes.
@Suite(.serialized) struct KernelDispatchTests {
    static var paths: [CPUPath] { CPUPath.allCases.filter(CPUDispatch.isSupported) }

    /// Runs `body` on each supported path and restores the path in use.
    static func onEachPath<T>(_ body: (CPUPath) -> T) -> [T] {
        let saved = CPUDispatch.current
        defer { CPUDispatch.use(saved) }
        return paths.map { path in
            #expect(CPUDispatch.use(path))
            #expect(CPUDispatch.current == path)
            return body(path)
        }
    }

    /// The Swift SIMD `dot` of the library before the C kernels, written out lane by lane.
    static func referenceDot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        let a = Array(a), b = Array(b), n = a.count
        var lanes = [Double](repeating: 0, count: 16)
        var i = 0
        while i + 16 <= n {
            for l in 0..<16 { lanes[l] += Double(a[i + l]) * Double(b[i + l]) }
            i += 16
        }
        var total = -0.0
        for l in 0..<8 { total += lanes[l] + lanes[l + 8] }
        while i < n { total += Double(a[i]) * Double(b[i]); i += 1 }
        return total
    }

    /// Likewise for `dotFloat`.
    static func referenceDotFloat(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        let a = Array(a), b = Array(b), n = a.count
        var lanes = [Float](repeating: 0, count: 16)
        var i = 0
        while i + 16 <= n {
            for l in 0..<16 { lanes[l] += a[i + l] * b[i + l] }
            i += 16
        }
        var total: Float = -0.0
        for l in 0..<8 { total += lanes[l] + lanes[l + 8] }
        while i < n { total += a[i] * b[i]; i += 1 }
        return total
    }

    static func row(_ m: Matrix, _ i: Int) -> ArraySlice<Float> { m.values[(i * m.cols)..<((i + 1) * m.cols)] }

    static let shapes: [(p: Int, q: Int, n: Int)] = [(1, 1, 0), (1, 2, 1), (3, 5, 15), (2, 3, 17), (5, 4, 33), (16, 16, 100), (17, 3, 4097)]

    @Test(arguments: shapes.indices)
    func exactDotProductsMatchTheSwiftReferenceOnEveryPath(index: Int) {
        let (p, q, n) = Self.shapes[index]
        var rng = SeededGenerator(seed: UInt64(100 + index))
        let x = rng.gaussianMatrix(rows: p, cols: n, scale: 0.3)
        let y = rng.gaussianMatrix(rows: q, cols: n, scale: 2)
        var gramRef = [Double](repeating: 0, count: p * p), dotsRef = [Double](repeating: 0, count: p * q)
        var gramFloatRef = [Float](repeating: 0, count: p * p), dotsFloatRef = [Float](repeating: 0, count: p * q)
        var absRef = [Double](repeating: 0, count: p * p)
        let absX = Matrix(rows: p, cols: n, values: x.values.map { abs($0) })
        for i in 0..<p {
            for j in 0..<p {
                let (lo, hi) = (min(i, j), max(i, j))   // the pair is computed once, as (lo, hi)
                gramRef[i * p + j] = Self.referenceDot(Self.row(x, lo), Self.row(x, hi))
                gramFloatRef[i * p + j] = Self.referenceDotFloat(Self.row(x, lo), Self.row(x, hi))
                absRef[i * p + j] = Self.referenceDot(Self.row(absX, lo), Self.row(absX, hi))
            }
            for j in 0..<q {
                dotsRef[i * q + j] = Self.referenceDot(Self.row(x, i), Self.row(y, j))
                dotsFloatRef[i * q + j] = Self.referenceDotFloat(Self.row(x, i), Self.row(y, j))
            }
        }
        _ = Self.onEachPath { path in
            #expect(SmallLinearAlgebra.gram(x) == gramRef, "gram on \(path)")
            #expect(SmallLinearAlgebra.rowDots(x, y) == dotsRef, "rowDots on \(path)")
            #expect(SmallLinearAlgebra.gramFloat(x) == gramFloatRef, "gramFloat on \(path)")
            #expect(SmallLinearAlgebra.rowDotsFloat(x, y) == dotsFloatRef, "rowDotsFloat on \(path)")
            #expect(SmallLinearAlgebra.gramOfMagnitudes(x) == absRef, "gram of |x| on \(path)")
            #expect(SmallLinearAlgebra.gramOfMagnitudes(x) == SmallLinearAlgebra.gram(absX), "gram of |x| on \(path)")
            if n > 0 {
                x.values.withUnsafeBufferPointer { xp in
                    #expect(SmallLinearAlgebra.dot(xp.baseAddress!, xp.baseAddress!, n) == gramRef[0], "dot on \(path)")
                }
            }
        }
    }

    @Test func magnitudeFitsAreBitIdenticalAcrossPaths() {
        var rng = SeededGenerator(seed: 7)
        let shapes = [(1, 1), (3, 31), (16, 257), (8, 4096)]
        for (p, n) in shapes {
            let x = rng.gaussianMatrix(rows: p, cols: n, scale: 0.01)
            let fits = Self.onEachPath { _ in MagnitudeFit.fit(x) }
            #expect(fits.allSatisfy { $0.rowScale == fits[0].rowScale && $0.columnScale == fits[0].columnScale })
            #expect(fits.allSatisfy { $0 == fits[0] })
        }
    }

    /// The Swift Jacobi sweeps the library ran before the C kernels.
    static func referenceJacobi(_ matrix: [Double], n: Int) -> (a: [Double], v: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        guard n > 1 else { return (a, v) }
        for _ in 0..<100 {
            var off = 0.0, diag = 0.0
            for i in 0..<n {
                diag += a[i * n + i] * a[i * n + i]
                for j in (i + 1)..<n { off += a[i * n + j] * a[i * n + j] }
            }
            if off <= 1e-30 * Swift.max(diag, 1e-300) { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    if apq == 0 { continue }
                    let app = a[p * n + p], aqq = a[q * n + q]
                    let theta = (aqq - app) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot()
                    let s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return (a, v)
    }

    @Test func eigenDecompositionIsBitIdenticalToTheSwiftSweeps() {
        var rng = SeededGenerator(seed: 3)
        for n in [1, 2, 5, 16, 33] {
            let x = rng.gaussianMatrix(rows: n, cols: 3 * n + 7)
            let g = SmallLinearAlgebra.gram(x)
            let (a, v) = Self.referenceJacobi(g, n: n)
            let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] }
            for result in Self.onEachPath({ _ in SmallLinearAlgebra.symmetricEigen(g, n: n) }) {
                #expect(result.values == order.map { a[$0 * n + $0] })
                for (newCol, oldCol) in order.enumerated() {
                    #expect((0..<n).allSatisfy { result.vectors[$0 * n + newCol] == v[$0 * n + oldCol] })
                }
                // The report's largest eigenvalue by repeated squaring agrees with Jacobi.
                let top = lordbaLargestEigenvalue(g, n: n)
                #expect(abs(top - result.values[0]) <= 2e-7 * result.values[0])
            }
        }
    }

    /// The repeated squaring stops early only once the power is rank one: spectra with a close
    /// second eigenvalue (ratio 0.9999), a tie at the top, and a fast decay all give the largest
    /// eigenvalue within 2e-7, on both paths.
    @Test func largestEigenvalueIsAccurateForCloseAndTiedSpectra() {
        for spectrum in [[1, 0.9999, 0.5, 0.1, 0.01], [2, 2, 0.3], [5, 1e-3, 1e-6, 0, 0, 0], [1, 0.6, 0.59, 0.2]] as [[Double]] {
            let n = spectrum.count
            // G = Q·diag(λ)·Qᵀ with Q orthogonal.
            let q = Factorizer.orthogonalMix(n, seed: UInt64(n))
            var g = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<n {
                    for k in 0..<n { g[i * n + j] += q[i * n + k] * spectrum[k] * q[j * n + k] }
                }
            }
            for top in Self.onEachPath({ _ in lordbaLargestEigenvalue(g, n: n) }) {
                #expect(abs(top - spectrum[0]) <= 2e-7 * spectrum[0], "\(spectrum)")
            }
        }
    }

    /// f16 scale rounding (F16C or software) against Swift's `Float16(_:)` on every path: every
    /// half value, the midpoints between neighbours (ties to even), values past the largest half,
    /// subnormals, and random floats, each divided first.
    @Test func halfRoundingMatchesSwiftOnEveryPath() {
        var values: [Float] = []
        for bits in UInt16.min...UInt16.max {
            let h = Float(Float16(bitPattern: bits))
            guard h.isFinite else { continue }
            values.append(h)
            values.append(h.nextUp)
            values.append(h.nextDown)
            let next = Float(Float16(bitPattern: bits &+ 1))
            if next.isFinite { values.append((h + next) / 2) }
        }
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        values += [65504, 65519.99, 65520, 1e6, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude]
        for divisor: Float in [1, 3, 0.7] {
            let expected = values.map { Float(Float16($0 / divisor)) }
            for rounded in Self.onEachPath({ _ in ScaleDType.f16.rounded(values, dividedBy: divisor) }) {
                let mismatches = zip(rounded, expected).filter { a, b in a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) }
                #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
            }
        }
    }

    /// E4M3 scale rounding and encoding (the C kernels) against `E4M3.float(E4M3.bits(_:))` and
    /// `E4M3.bits(_:)` on every path: every
    /// E4M3 value and its float neighbours, the midpoints between E4M3 neighbours (ties to even),
    /// values past ±448, subnormals, specials and random floats, each divided first.
    @Test func e4m3RoundingMatchesTheSwiftCodecOnEveryPath() {
        var values: [Float] = []
        let finite = (0...255).map { E4M3.float(UInt8($0)) }.filter(\.isFinite).sorted()
        for (i, v) in finite.enumerated() {
            values += [v, v.nextUp, v.nextDown]
            if i + 1 < finite.count { values.append((v + finite[i + 1]) / 2) }
        }
        var rng = SeededGenerator(seed: 13)
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        values += [448, 464, 479.9, 480, 1e6, .infinity, -.infinity, .nan, 0, -0.0, 0x1p-10, 0x1p-9 * 1.5, 0x1p-7 * 1.5,
                   .leastNonzeroMagnitude, -.leastNonzeroMagnitude]
        for divisor: Float in [1, 3, 0.7, 1e-3] {
            let expected = values.map { E4M3.float(E4M3.bits($0 / divisor)) }
            // Whole (eight lanes at a time) and in runs of 7 (the scalar tail only).
            let results = Self.onEachPath { _ in
                [ScaleDType.e4m3.rounded(values, dividedBy: divisor),
                 stride(from: 0, to: values.count, by: 7).flatMap {
                     ScaleDType.e4m3.rounded(Array(values[$0..<min($0 + 7, values.count)]), dividedBy: divisor)
                 }]
            }.flatMap { $0 }
            for rounded in results {
                let mismatches = zip(rounded, expected).filter { a, b in a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) }
                #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
            }
        }
        // The writer's codes (lordba_encode_e4m3) against E4M3.bits, whole and in runs of 7.
        let codes = values.map(E4M3.bits)
        for encoded in Self.onEachPath({ _ in
            [ScaleDType.e4m3.encode(values),
             stride(from: 0, to: values.count, by: 7).flatMap {
                 ScaleDType.e4m3.encode(Array(values[$0..<min($0 + 7, values.count)]))
             }]
        }).flatMap({ $0 }) {
            let mismatches = zip(values, zip(encoded, codes)).filter { $1.0 != $1.1 }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
        }
    }

    @Test func signPackingAndTransposesMatchScalarReferencesOnEveryPath() {
        var rng = SeededGenerator(seed: 9)
        for (rows, cols) in [(1, 1), (3, 7), (5, 64), (2, 65), (17, 129), (16, 4099)] {
            var m = rng.gaussianMatrix(rows: rows, cols: cols)
            m.values[0] = -0.0   // −0 and 0 count as +1
            if m.values.count > 1 { m.values[1] = 0 }
            let wpr = (cols + 63) / 64
            var words = [UInt64](repeating: 0, count: rows * wpr)
            for r in 0..<rows { for c in 0..<cols where m[r, c] < 0 { words[r * wpr + c / 64] |= 1 << UInt64(c % 64) } }
            var transposed = [Float](repeating: 0, count: rows * cols)
            for r in 0..<rows { for c in 0..<cols { transposed[c * rows + r] = m[r, c] } }
            _ = Self.onEachPath { path in
                #expect(SignMatrix(signsOf: m).words == words, "signs \(rows)×\(cols) on \(path)")
                #expect(m.transposed().values.map(\.bitPattern) == transposed.map(\.bitPattern), "transpose on \(path)")
            }
        }
    }

    @Test func halfAndBFloatDecodingIsExactForEveryBitPatternOnEveryPath() {
        // Every pattern, at an odd offset so loads are unaligned and the vector tail runs.
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * 65536 + 6)
        for pattern in 0...0xFFFF {
            bytes[1 + 2 * pattern] = UInt8(pattern & 0xFF)
            bytes[2 + 2 * pattern] = UInt8(pattern >> 8)
        }
        let count = 65536 + 3
        let decoded = Self.onEachPath { _ -> ([Float], [Float]) in
            var f16 = [Float](repeating: 0, count: count), bf16 = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                let start = UnsafeRawBufferPointer(rebasing: raw[1...])
                f16.withUnsafeMutableBufferPointer { TensorDType.f16.decodeFloats(start, count: count, into: $0) }
                bf16.withUnsafeMutableBufferPointer { TensorDType.bf16.decodeFloats(start, count: count, into: $0) }
            }
            return (f16, bf16)
        }
        for (f16, bf16) in decoded {
            var wrong = 0
            for pattern in 0...0xFFFF {
                let expected = Float(Float16(bitPattern: UInt16(pattern)))   // NaNs come out quiet
                if f16[pattern].bitPattern != expected.bitPattern { wrong += 1 }
                if bf16[pattern].bitPattern != UInt32(pattern) << 16 { wrong += 1 }
            }
            #expect(wrong == 0)
        }
        #expect(decoded.allSatisfy { $0.0.map(\.bitPattern) == decoded[0].0.map(\.bitPattern) })
    }

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
