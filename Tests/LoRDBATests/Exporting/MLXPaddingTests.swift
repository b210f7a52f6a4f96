import Foundation
import Testing
@testable import LoRDBA

/// The MLX export's padding to one rank is bounded by the adapter's own size.
@Suite struct MLXPaddingTests {
    /// One narrow module with a large `k` beside wide `k = 1` modules: padded, the export would
    /// hold `64 × 4096 × 8192` values (8 GiB in f32) for a `.lba` of a few kilobytes.
    static func craftedAdapter() -> BinaryAdapter {
        var rng = SeededGenerator(seed: 11)
        var modules = [Fixtures.module(name: "model.layers.0.self_attn.q_proj", inFeatures: 1, outFeatures: 1,
                                       k: 4096, inputScales: false, using: &rng)]
        for i in 0..<64 {
            modules.append(Fixtures.module(name: "model.layers.\(i).mlp.up_proj", inFeatures: 4096, outFeatures: 4096,
                                           k: 1, inputScales: false, using: &rng))
        }
        return BinaryAdapter(layout: .mlx, modules: modules, carried: [], metadata: [:], scaleDType: .f16)
    }

    @Test func paddedTotalsAreCountedWithoutOverflow() throws {
        let adapter = Self.craftedAdapter()
        let shapes = adapter.modules.map { ($0.binaryRank, $0.inFeatures, $0.outFeatures) }
        let totals = try #require(MLXExport.paddedValues(shapes))
        #expect(totals.padded == 4096 * 2 + 64 * 4096 * 8192)
        #expect(totals.own == 4096 * 2 + 64 * 8192)
        #expect(MLXExport.paddedValues([(1, Int.max / 2, Int.max / 2 + 2)]) == nil)
        #expect(MLXExport.paddedValues([(1 << 31, 1, 1), (1, 1 << 31, 1 << 31)]) == nil)
    }

    @Test func anOversizedPaddingIsRefusedBeforeAnythingIsWritten() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = dir.path + "/crafted.lba"
        _ = try LBAWriter().write(Self.craftedAdapter(), to: lba, overwrite: false)
        let output = dir.path + "/mlx"
        let error = caught { () throws(ExportError) in
            _ = try Exporter(options: ExportOptions(target: .mlx)).export(input: lba, output: output)
        }
        let text = try #require(error?.description)
        #expect(text.hasPrefix("\(lba): module model.layers.0.self_attn.q_proj: mlx-lm uses one rank"))
        #expect(text.contains("k = 4096") && !text.contains("\n"))
        #expect(!FileManager.default.fileExists(atPath: output))
        // The other targets keep each module's rank and export the same file.
        _ = try Exporter(options: ExportOptions(target: .kohya)).export(input: lba, output: dir.path + "/k.safetensors")
    }
}
