import Testing
@testable import LoRDBA

@Suite struct CRC32CTests {
    /// Bit-at-a-time reference implementation.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func matchesBitwiseReferenceAtEveryAlignmentAndLength() {
        var rng = SeededGenerator(seed: 42)
        let data = Fixtures.randomBytes(300, using: &rng)
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200, 300 - start] where start + length <= data.count {
                let slice = data[start..<(start + length)]
                #expect(CRC32C.checksum(slice) == Self.reference(Array(slice)), "start \(start) length \(length)")
            }
        }
    }

    @Test func continuesARunningChecksum() {
        var rng = SeededGenerator(seed: 3)
        let data = Fixtures.randomBytes(1000, using: &rng)
        for split in [0, 1, 13, 500, 999, 1000] {
            let first = CRC32C.checksum(data[0..<split])
            #expect(CRC32C.checksum(data[split...], continuing: first) == CRC32C.checksum(data))
        }
    }

    @Test func detectsEverySingleBitFlip() {
        let data = Array("The quick brown fox jumps over the lazy dog".utf8)
        let crc = CRC32C.checksum(data)
        for bit in 0..<(data.count * 8) {
            var copy = data
            copy[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(CRC32C.checksum(copy) != crc)
        }
    }
}
