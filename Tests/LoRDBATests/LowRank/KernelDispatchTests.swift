import Testing
@testable import LoRDBA

/// The C kernels on every CPU path this machine can run (SSE2 always, AVX2 when present),
/// against scalar Swift references on odd shapes; bit-identical where the result feeds bytes.
/// (Dot products, Grams and eigenvalues here; codecs and report statistics in KernelDispatchTests+*.swift.)
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
}
