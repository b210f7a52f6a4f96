import Testing
@testable import LoRDBA

/// The scale codec: the bytes each dtype stores, and that reading them back gives exactly the
/// values ``ScaleDType/rounded(_:)`` promises.
@Suite struct ScaleCodecTests {
    @Test func knownBytesLittleEndian() {
        #expect(ScaleDType.f16.encode([1, -2]) == [0x00, 0x3C, 0x00, 0xC0])
        #expect(ScaleDType.bf16.encode([1, -2]) == [0x80, 0x3F, 0x00, 0xC0])
        #expect(ScaleDType.f32.encode([1]) == [0x00, 0x00, 0x80, 0x3F])
        #expect(ScaleDType.e4m3.encode([1, -1, 448, 1000]) == [0x38, 0xB8, 0x7E, 0x7E])
    }

    @Test func decodeOfEncodeIsRounding() {
        var rng = SeededGenerator(seed: 11)
        let values = (0..<257).map { i in Float(rng.nextGaussian()) * Float(1 << (i % 9)) } + [0, -0.0, 3e-5, 65504, 70000]
        for dtype in ScaleDType.allCases {
            let bytes = dtype.encode(values)
            #expect(bytes.count == values.count * dtype.byteWidth, "\(dtype)")
            let back = dtype.decode(bytes)
            let expected = values.map { dtype.rounded($0) }
            #expect(zip(back, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(dtype)")
            #expect(dtype.rounded(values, dividedBy: 1).map(\.bitPattern) == expected.map(\.bitPattern), "\(dtype)")
        }
    }

    @Test func decodeIgnoresATrailingPartialValue() {
        #expect(ScaleDType.f32.decode([0, 0, 0x80, 0x3F, 0xFF]) == [1])
        #expect(ScaleDType.f16.decode([0x00]) == [])
    }
}
