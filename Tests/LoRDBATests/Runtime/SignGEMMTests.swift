import Testing
@testable import LoRDBA

/// SignGEMM against the dense reference: odd shapes, token and thread counts, Float16 input, worked examples, rank 0.
@Suite struct SignGEMMTests {
    /// Runs the sign kernel and the dense reference from the same non-zero `y` and compares
    /// the branches they added.
    ///
    /// The difference is measured against `‖|B̂|·|Â|·|x|‖`, the scale of Float32 rounding
    /// errors in a sum (a single sum over `in` terms can cancel to almost nothing, and then any
    /// two summation orders differ by far more than 1e-5 of the result); `Validator` measures
    /// against `‖Y‖` over many tokens and outputs, where no such cancellation happens.
    func check(_ module: BinaryModule, tokens: Int, threads: Int, seed: UInt64,
               sourceLocation: SourceLocation = #_sourceLocation) {
        let kernel = SignGEMM(module)
        let dense = DenseLowRank(binary: module)
        let x = activations(tokens * module.inFeatures, seed: seed)
        let start = activations(tokens * module.outFeatures, seed: seed ^ 0xABCD)
        var ySign = start, yDense = start
        kernel.apply(x, tokens: tokens, into: &ySign, threads: threads)
        dense.apply(x, tokens: tokens, into: &yDense, threads: threads)
        // Compare the added branch (y minus its start) so the start values cannot hide errors.
        let branchSign = zip(ySign, start).map { $0 - $1 }
        let branchDense = zip(yDense, start).map { $0 - $1 }
        var magnitude = [Float](repeating: 0, count: tokens * module.outFeatures)
        let f = dense.factors
        let absolute = DenseLowRank(LowRankProduct(a: Matrix(rows: f.a.rows, cols: f.a.cols, values: f.a.values.map(abs)),
                                                   bTransposed: Matrix(rows: f.bTransposed.rows, cols: f.bTransposed.cols,
                                                                       values: f.bTransposed.values.map(abs))))
        absolute.apply(x.map(abs), tokens: tokens, into: &magnitude)
        let difference = relativeDifference(branchSign, branchDense) * norm(branchDense) / norm(magnitude)
        #expect(difference < 1e-5, "in \(module.inFeatures) out \(module.outFeatures) k \(module.binaryRank) T \(tokens) threads \(threads): \(difference)",
                sourceLocation: sourceLocation)
    }

    func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    static let shapes: [(Int, Int)] = [(1, 1), (7, 9), (37, 65), (64, 64), (130, 63), (200, 129), (257, 100), (1000, 513)]

    @Test(arguments: [1, 3, 11, 16, 64])   // 11: step 1's tables take channels 4, 2 and 1 at a time
    func oddShapesMatchTheDenseReference(k: Int) {
        var rng = SeededGenerator(seed: UInt64(k))
        for (inFeatures, outFeatures) in Self.shapes {
            for inputScales in [false, true] {
                let module = Fixtures.module(name: "m", inFeatures: inFeatures, outFeatures: outFeatures, k: k,
                                             inputScales: inputScales, using: &rng)
                for tokens in [1, 2, 3, 4, 5, 8, 9] {
                    check(module, tokens: tokens, threads: 1, seed: UInt64(tokens))
                }
            }
        }
    }

    @Test(.tags(.slow), .slowNumeric) func everyTokenCountUpToTwentyAndThreads() {
        var rng = SeededGenerator(seed: 99)
        // Large enough that the kernel splits the work (k·(in + out)·T ≥ SignGEMM.parallelWork from T = 3).
        let module = Fixtures.module(name: "m", inFeatures: 1000, outFeatures: 700, k: 64, inputScales: true, using: &rng)
        #expect(3 * module.binaryRank * (module.inFeatures + module.outFeatures) >= SignGEMM.parallelWork)
        for tokens in 1...20 {
            check(module, tokens: tokens, threads: 1 + tokens % 4, seed: UInt64(tokens))
        }
        for threads in [2, 3, 5, 8] {
            check(module, tokens: 37, threads: threads, seed: 37)
            check(module, tokens: 2, threads: threads, seed: 2)
        }
    }

    @Test func resultDoesNotDependOnThreadsForTokenBlocks() {
        var rng = SeededGenerator(seed: 5)
        let module = Fixtures.module(name: "m", inFeatures: 777, outFeatures: 333, k: 16, inputScales: false, using: &rng)
        let kernel = SignGEMM(module)
        let x = activations(64 * 777, seed: 1)
        var reference = [Float](repeating: 0, count: 64 * 333)
        kernel.apply(x, tokens: 64, into: &reference, threads: 1)
        for threads in [2, 3, 4] {
            var y = [Float](repeating: 0, count: 64 * 333)
            kernel.apply(x, tokens: 64, into: &y, threads: threads)
            #expect(y == reference)
        }
    }

    @Test(arguments: [false, true])
    func float16InputMatchesTheDenseReferenceOnTheSameValues(inputScales: Bool) {
        var rng = SeededGenerator(seed: 16)
        for (inFeatures, outFeatures, k) in [(37, 65, 3), (130, 63, 16), (1000, 513, 64)] {
            let module = Fixtures.module(name: "m", inFeatures: inFeatures, outFeatures: outFeatures, k: k,
                                         inputScales: inputScales, using: &rng)
            for tokens in [1, 4, 7, 9, 16] {
                let x16 = activations(tokens * inFeatures, seed: UInt64(tokens)).map { Float16($0) }
                var ySign = [Float](repeating: 0, count: tokens * outFeatures)
                var yDense = ySign
                SignGEMM(module).apply(x16, tokens: tokens, into: &ySign, threads: 2)
                DenseLowRank(binary: module).apply(x16.map { Float($0) }, tokens: tokens, into: &yDense)
                #expect(relativeDifference(ySign, yDense) < 1e-5, "in \(inFeatures) k \(k) T \(tokens)")
            }
        }
    }

    /// The worked example of `formats/lba.md`, computed by hand:
    /// `S_A = [+1, −1, +1]`, `S_B = [−1, +1]`, `m = 0.25`, `b = [1, 0.5]`.
    @Test func handWorkedExample() {
        let module = Fixtures.specExample().modules[0]
        let kernel = SignGEMM(module)
        // x = [1, 2, 3]: S_A·x = 1 − 2 + 3 = 2; m·2 = 0.5; y += [1·(−1)·0.5, 0.5·(+1)·0.5] = [−0.5, 0.25].
        // x = [−4, 0.5, 8]: S_A·x = −4 − 0.5 + 8 = 3.5; m·3.5 = 0.875; y += [−0.875, 0.4375].
        var y: [Float] = [10, 20, 0, 0]
        kernel.apply([1, 2, 3, -4, 0.5, 8] as [Float], tokens: 2, into: &y)
        #expect(y == [9.5, 20.25, -0.875, 0.4375])
        var y16: [Float] = [0, 0, 0, 0]
        kernel.apply([1, 2, 3, -4, 0.5, 8].map { Float16($0) }, tokens: 2, into: &y16)
        #expect(y16 == [-0.5, 0.25, -0.875, 0.4375])

        // With input scales a = [0.5, 1, 2]: a ⊙ [1, 2, 3] = [0.5, 2, 6]; S_A· = 0.5 − 2 + 6 = 4.5;
        // m·4.5 = 1.125; y = [−1.125, 0.5625].
        var scaled = module
        scaled.scales.input = [0.5, 1, 2]
        var y2: [Float] = [0, 0]
        SignGEMM(scaled).apply([1, 2, 3] as [Float], tokens: 1, into: &y2)
        #expect(y2 == [-1.125, 0.5625])

        // k = 2, in = 2, out = 3: S_A = [[+1, +1], [−1, +1]], S_B = [[+1, −1, +1], [−1, −1, +1]],
        // m = [1, 2], b = [1, 1, 0.5]. x = [3, 5]: S_A·x = [8, 2]; m ⊙ = [8, 4];
        // S_Bᵀ·[8, 4] = [8 − 4, −8 − 4, 8 + 4] = [4, −12, 12]; b ⊙ = [4, −12, 6].
        var signA = SignMatrix(rows: 2, cols: 2)
        signA.setNegative(true, row: 1, col: 0)
        var signB = SignMatrix(rows: 2, cols: 3)
        signB.setNegative(true, row: 0, col: 1)
        signB.setNegative(true, row: 1, col: 0)
        signB.setNegative(true, row: 1, col: 1)
        let two = BinaryModule(name: "two", kind: .linear, loraRank: 2, loraScale: 1, signA: signA, signB: signB,
                               scales: ChannelScales(input: nil, middle: [1, 2], output: [1, 1, 0.5]),
                               source: module.source)
        var y3: [Float] = [0, 0, 0]
        SignGEMM(two).apply([3, 5] as [Float], tokens: 1, into: &y3)
        #expect(y3 == [4, -12, 6])
    }

    /// A rank-0 module (no sign channels, as a module whose every channel was dropped) adds
    /// nothing to non-zero outputs, for any token count, thread count and input dtype; and no
    /// tokens leave an empty output empty for a module that does have channels.
    @Test func zeroTokensAndZeroRankChangeNothing() {
        var rng = SeededGenerator(seed: 3)
        let zeroRank = Fixtures.module(name: "m", inFeatures: 10, outFeatures: 12, k: 0, inputScales: true, using: &rng)
        #expect(zeroRank.binaryRank == 0)
        let kernel = SignGEMM(zeroRank)
        #expect(kernel.addsPerToken == 0 && kernel.signBytes == 0)
        for (tokens, threads) in [(1, 1), (5, 1), (37, 3)] {
            let start = activations(tokens * 12, seed: UInt64(tokens))
            var y = start
            kernel.apply(activations(tokens * 10, seed: 7), tokens: tokens, into: &y, threads: threads)
            #expect(y == start, "T \(tokens) threads \(threads)")
            var y16 = start
            kernel.apply(activations(tokens * 10, seed: 7).map { Float16($0) }, tokens: tokens, into: &y16, threads: threads)
            #expect(y16 == start, "Float16, T \(tokens) threads \(threads)")
        }
        let module = Fixtures.module(name: "m", inFeatures: 10, outFeatures: 12, k: 2, inputScales: false, using: &rng)
        var empty: [Float] = []
        SignGEMM(module).apply([Float](), tokens: 0, into: &empty, threads: 4)
        #expect(empty.isEmpty)
        // The same module with one token does change its output (so the checks above can fail).
        var one = activations(12, seed: 1)
        SignGEMM(module).apply(activations(10, seed: 7), tokens: 1, into: &one)
        #expect(one != activations(12, seed: 1))
    }
}
