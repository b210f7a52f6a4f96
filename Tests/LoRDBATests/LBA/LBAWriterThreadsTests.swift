import Testing
@testable import LoRDBA

@Suite struct LBAWriterThreadsTests {
    /// The sections are prepared in parallel runs of modules, each with its own zstd context:
    /// the file must be the same bytes for any thread count, with and without compression.
    @Test func bytesDoNotDependOnTheThreadCount() throws {
        for seed: UInt64 in [1, 2, 3] {
            for dtype in [ScaleDType.e4m3, .f16] {
                var adapter = Fixtures.adapter(seed: seed, scaleDType: dtype)
                // One module whose signs are all +1, so some sections are stored zstd-compressed.
                let m = adapter.modules[2]
                adapter.modules[2].signA = SignMatrix(rows: m.signA.rows, cols: m.signA.cols)
                for compression in [true, false] {
                    let one = try LBAWriter(compression: compression, threads: 1).encode(adapter)
                    if compression {
                        let table = try LBAFile(bytes: one.bytes).adapter
                        #expect(table.modules.count == adapter.modules.count)
                        #expect(try one.moduleBytes[2] < LBAWriter(compression: false).encode(adapter).moduleBytes[2])
                    }
                    for threads in [2, 3, 8] {
                        let many = try LBAWriter(compression: compression, threads: threads).encode(adapter)
                        #expect(many.bytes == one.bytes, "seed \(seed) \(dtype) compression \(compression) threads \(threads)")
                        #expect(many.moduleBytes == one.moduleBytes)
                    }
                }
            }
        }
    }
}
