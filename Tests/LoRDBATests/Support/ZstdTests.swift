import Testing
@testable import LoRDBA

@Suite struct ZstdTests {
    @Test func roundTripsAndIsDeterministic() throws {
        let text = Array(String(repeating: "LoRDBA sign bits and scales. ", count: 200).utf8)
        let compressed = try Zstd.compress(text, level: 3)
        #expect(compressed.count < text.count / 10)
        #expect(try Zstd.compress(text, level: 3) == compressed)
        #expect(try Zstd.decompress(compressed, expectedSize: text.count) == text)
    }

    @Test func emptyInputRoundTrips() throws {
        let compressed = try Zstd.compress([UInt8](), level: 3)
        #expect(!compressed.isEmpty)
        #expect(try Zstd.decompress(compressed, expectedSize: 0) == [])
    }

    @Test func demandsTheExactDeclaredSize() throws {
        let data = [UInt8](repeating: 7, count: 1000)
        let compressed = try Zstd.compress(data, level: 3)
        #expect(throws: ZstdError.sizeMismatch(expected: 999, actual: 1000)) {
            try Zstd.decompress(compressed, expectedSize: 999)
        }
        #expect(throws: ZstdError.sizeMismatch(expected: 1001, actual: 1000)) {
            try Zstd.decompress(compressed, expectedSize: 1001)
        }
    }

    @Test func rejectsTrailingBytesGarbageAndCorruption() throws {
        var rng = SeededGenerator(seed: 9)
        let data = (0..<4000).map { UInt8(truncatingIfNeeded: $0 % 97) } + Fixtures.randomBytes(100, using: &rng)
        let compressed = try Zstd.compress(data, level: 3)
        #expect(throws: ZstdError.self) { try Zstd.decompress(compressed + [0], expectedSize: data.count) }
        #expect(throws: ZstdError.self) { try Zstd.decompress(compressed + compressed, expectedSize: data.count) }
        #expect(throws: ZstdError.self) { try Zstd.decompress(Array(compressed.dropLast()), expectedSize: data.count) }
        #expect(throws: ZstdError.self) { try Zstd.decompress(Array("not zstd".utf8), expectedSize: 8) }
        #expect(throws: ZstdError.self) { try Zstd.decompress([], expectedSize: 0) }
        // A damaged block (past the frame header) must fail or at least not decode silently to the same bytes.
        var damaged = compressed
        damaged[damaged.count / 2] ^= 0xFF
        let result = try? Zstd.decompress(damaged, expectedSize: data.count)
        #expect(result != data)
    }

    @Test func rejectsSkippableFrames() throws {
        // Magic 0x184D2A50…5F, a 4-byte length, then that many bytes: libzstd decodes it to nothing.
        for magic in [UInt32(0x184D_2A50), 0x184D_2A5F] {
            var frame: [UInt8] = []
            frame.appendLE(magic)
            frame.appendLE(UInt32(4))
            frame += Array("skip".utf8)
            #expect(throws: ZstdError.malformedFrame("a skippable frame, which holds no content")) {
                try Zstd.decompress(frame, expectedSize: 0)
            }
        }
    }

    @Test func randomBytesDoNotCompress() throws {
        var rng = SeededGenerator(seed: 11)
        let data = Fixtures.randomBytes(32_768, using: &rng)
        let compressed = try Zstd.compress(data, level: LBAFormat.zstdLevel)
        #expect(!LBAFormat.keepsCompressed(rawCount: data.count, compressedCount: compressed.count))
    }

    @Test func savingRule() {
        #expect(!LBAFormat.keepsCompressed(rawCount: 100, compressedCount: 40))     // saves 60 < 64
        #expect(LBAFormat.keepsCompressed(rawCount: 100, compressedCount: 36))      // saves 64
        #expect(!LBAFormat.keepsCompressed(rawCount: 100_000, compressedCount: 99_100))  // saves 0.9 %
        #expect(LBAFormat.keepsCompressed(rawCount: 100_000, compressedCount: 99_000))   // saves 1 %
        #expect(LBAFormat.withinZstdRatio(decoded: 32_768, stored: 1))
        #expect(!LBAFormat.withinZstdRatio(decoded: 32_769, stored: 1))
        #expect(LBAFormat.withinZstdRatio(decoded: Int.max, stored: Int.max / 2))
    }
}
