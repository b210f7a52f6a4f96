import Testing
@testable import LoRDBA

/// `ResidualChannels` and `Binarizer.storedModule`, the Binarizing side of the pipeline's
/// growth and storage steps.
@Suite struct ResidualChannelsTests {
    /// A residual that is exactly `μ·sign(u)·sign(v)ᵀ` under scales `a` and `b` comes back as
    /// one channel with those signs and that `μ`.
    @Test func aScaledSignOuterProductIsRecoveredExactly() throws {
        var rng = SeededGenerator(seed: 11)
        let (inF, outF) = (12, 9)
        let u = (0..<outF).map { _ in rng.nextGaussian() < 0 ? Float(-1) : 1 }
        let v = (0..<inF).map { _ in rng.nextGaussian() < 0 ? Float(-1) : 1 }
        let a = (0..<inF).map { _ in 0.5 + rng.nextUnitFloat() }, b = (0..<outF).map { _ in 0.5 + rng.nextUnitFloat() }
        let mu: Float = 0.75
        // R = diag(b)·(μ·u·vᵀ)·diag(a), held as Bᵀ = μ·(b ⊙ u)ᵀ, A = (a ⊙ v)ᵀ.
        let residual = LowRankProduct(a: Matrix(rows: 1, cols: inF, values: zip(a, v).map { $0 * $1 }),
                                      bTransposed: Matrix(rows: 1, cols: outF, values: zip(b, u).map { mu * $0 * $1 }))
        let channels = try #require(ResidualChannels(residual: residual, inputScale: a, outputScale: b, count: 3))
        #expect(channels.middle.count == 1)                  // the residual has rank 1
        let sameSigns = channels.signA.values == v && channels.signB.values == u
        let flipped = channels.signA.values == v.map { -$0 } && channels.signB.values == u.map { -$0 }
        #expect(sameSigns || flipped)
        #expect(abs(channels.middle[0] - mu) <= 1e-5 * mu)
        #expect(ResidualChannels(residual: residual, inputScale: a, outputScale: b, count: 0) == nil)
    }

    /// The stored module's `a` and `b` peak at the dtype's normalised peak, `m` absorbs the
    /// peaks before the refit sees it, and compact scales store no `a`.
    @Test func storedModulesNormaliseAndHandTheRoundedScalesToTheRefit() {
        var rng = SeededGenerator(seed: 12)
        let (k, inF, outF) = (2, 6, 5)
        let signA = Matrix(rows: k, cols: inF, values: (0..<(k * inF)).map { _ in rng.nextGaussian() < 0 ? -1 : 1 })
        let signB = Matrix(rows: k, cols: outF, values: (0..<(k * outF)).map { _ in rng.nextGaussian() < 0 ? -1 : 1 })
        let a = (0..<inF).map { _ in 3 * rng.nextUnitFloat() + 0.1 }, b = (0..<outF).map { _ in 5 * rng.nextUnitFloat() + 0.1 }
        let scales = ChannelScales(input: a, middle: [2, 3], output: b)
        let template = Binarizer(scaleDType: .f32).binarize(
            LoRAModule(name: "t", a: signA, b: signB.transposed(), scale: 1, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))).module
        for compact in [false, true] {
            for dtype in [ScaleDType.f16, .e4m3] {
                var seen: ChannelScales?
                let stored = Binarizer(scaleDType: dtype).storedModule(
                    signA: signA, signB: signB, scales: scales, like: template, compact: compact,
                    refitMiddle: { seen = $0; return $0.middle.map { $0 + 1 } })
                let rounded = try! #require(seen)
                #expect(rounded.output.map { abs($0) }.max() == dtype.normalisedPeak)
                #expect(compact ? rounded.input == a : rounded.input?.max() == dtype.normalisedPeak)
                let aPeak = compact ? 1 : a.max()! / dtype.normalisedPeak, bPeak = b.max()! / dtype.normalisedPeak
                #expect(rounded.middle == [2 * aPeak * bPeak, 3 * aPeak * bPeak])
                #expect(stored.scales.middle == rounded.middle.map { $0 + 1 })
                #expect((stored.scales.input == nil) == compact)
                #expect(stored.name == "t" && stored.binaryRank == k && stored.signA.dense().values == signA.values)
            }
        }
    }
}
