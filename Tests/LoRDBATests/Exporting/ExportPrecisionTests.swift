import Testing
@testable import LoRDBA

/// Balanced exports keep ΔW at 7B widths (4096 wide, scales as a default `.lba` stores them:
/// e4m3-sized `a`, `b` near 256 and a tiny `m`), and exports that cannot are refused.
@Suite struct ExportPrecisionTests {
    /// A seeded sign module with `m` of `middle` and `a`, `b` spread over e4m3's range.
    static func module(width: Int, out: Int, rank: Int, middle: Float, spread: Float = 16) -> BinaryModule {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        func scale() -> Float { 256 / (1 + Float(next() % 1000) / 1000 * (spread - 1)) }
        let signA = SignMatrix(rows: rank, cols: width, words: (0..<(rank * ((width + 63) / 64))).map { _ in next() &* 0x2545_F491_4F6C_DD1D })
        let signB = SignMatrix(rows: rank, cols: out, words: (0..<(rank * ((out + 63) / 64))).map { _ in next() &* 0x2545_F491_4F6C_DD1D })
        let scales = ChannelScales(input: (0..<width).map { _ in scale() }, middle: (0..<rank).map { j in middle * (1 + Float(j % 3) / 4) },
                                   output: (0..<out).map { _ in scale() })
        return BinaryModule(name: "layers.0.mlp.up_proj", kind: .linear, loraRank: rank, loraScale: 2, signA: signA, signB: signB,
                            scales: scales, source: .init(aTensor: "a", bTensor: "b", dtype: .f16))
    }

    @Test func balancingIsExactAndKeepsEveryDTypeWithinItsBound() {
        let d = DequantizedModule(Self.module(width: 4096, out: 4096, rank: 16, middle: 1e-7))
        let balanced = d.balanced()
        #expect(ExportPrecision.relativeError(balanced, dtype: .f32) == 0)
        for j in 0..<d.rank {
            // Each channel is multiplied by one power of two on each side, and the two cancel.
            let up = balanced.a[j * d.inFeatures] / d.a[j * d.inFeatures]
            let down = balanced.b[j] / d.b[j]
            #expect(up * down == 1 && up.significand == 1)
            #expect(balanced.a[(j * d.inFeatures)..<((j + 1) * d.inFeatures)] == ArraySlice(d.a[(j * d.inFeatures)..<((j + 1) * d.inFeatures)].map { $0 * up }))
        }
        let f16 = ExportPrecision.relativeError(balanced, dtype: .f16)
        let bf16 = ExportPrecision.relativeError(balanced, dtype: .bf16)
        #expect(f16 <= 1e-3 && f16 > 0, "f16: \(f16)")
        #expect(bf16 <= 8e-3 && bf16 > 0, "bf16: \(bf16)")
        // Without balancing the same factors lose most of their digits in f16.
        #expect(ExportPrecision.relativeError(d, dtype: .f16) > ExportPrecision.bound(.f16))
    }

    @Test func relativeErrorMatchesTheDenseDifference() {
        let d = DequantizedModule(Self.module(width: 96, out: 40, rank: 3, middle: 3e-6)).balanced()
        let (a, b) = (ExportPrecision.rounded(d.a, to: .bf16), ExportPrecision.rounded(d.b, to: .bf16))
        let dense = ExportPrecision.entrywiseError(d, castA: a, castB: b)
        #expect(dense > 0)
        #expect(abs(ExportPrecision.relativeError(d, dtype: .bf16) - dense) <= 1e-6 * dense)
    }

    /// `k` far above `out × in` (a crafted file): the check sums entries instead of forming
    /// `2k × 2k` Gram matrices (128 GiB here).
    @Test func aRankAboveTheModulesSizeIsCheckedWithoutItsGramMatrices() {
        let d = DequantizedModule(Self.module(width: 1, out: 1, rank: 1 << 16, middle: 3e-6)).balanced()
        let change = ExportPrecision.relativeError(d, dtype: .bf16)
        #expect(change > 0 && change <= ExportPrecision.bound(.bf16))
    }

    @Test func aModuleOutOfTheTypesRangeIsRefusedWithOneLine() throws {
        // A range no power of two can centre: the largest scales overflow f16 once the
        // smallest are above its subnormals.
        var module = Self.module(width: 64, out: 64, rank: 2, middle: 1, spread: 2)
        module.scales.input![0] = 3e9
        module.scales.output[0] = 3e9
        let adapter = BinaryAdapter(layout: .peft, modules: [module], carried: [], metadata: [:])
        let exporter = Exporter(options: ExportOptions(target: .peft))
        #expect(throws: ExportError.self) { try exporter.files(for: adapter, path: "x.lba") }
        do {
            _ = try exporter.files(for: adapter, path: "x.lba")
        } catch {
            #expect(error.description.hasPrefix("x.lba: module layers.0.mlp.up_proj: "))
            #expect(error.description.hasSuffix("export with --dtype f32"))
            #expect(!error.description.contains("\n"))
        }
        var f32 = ExportOptions(target: .peft)
        f32.dtype = .f32
        _ = try Exporter(options: f32).files(for: adapter, path: "x.lba")
    }
}
