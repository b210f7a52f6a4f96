/// CRC-32C (Castagnoli): reflected polynomial `0x82F63B78`, initial value and final XOR
/// `0xFFFFFFFF`, as used by iSCSI, ext4 and SSE4.2's `crc32` instruction.
///
/// Table-driven slicing-by-8: eight bytes per step through eight 256-entry tables.
/// `checksum("123456789") == 0xE3069283`.
public enum CRC32C {
    /// The reflected Castagnoli polynomial.
    public static let polynomial: UInt32 = 0x82F6_3B78

    /// `tables[t * 256 + b]`: the CRC of byte `b` followed by `t` zero bytes.
    static let tables: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1 }
            table[byte] = crc
        }
        for t in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(t - 1) * 256 + byte]
                table[t * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()

    /// The CRC-32C of `bytes`; pass the checksum of the preceding bytes as `previous`
    /// to continue a running checksum (`checksum(b, continuing: checksum(a)) == checksum(a + b)`).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        tables.withUnsafeBufferPointer { tablePointer in
            let t = tablePointer.baseAddress!
            var crc = ~previous
            guard var p = bytes.baseAddress else { return previous }
            var remaining = bytes.count
            // Bytes up to an 8-byte boundary, one at a time.
            while remaining > 0 && UInt(bitPattern: p) & 7 != 0 {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)]
                p += 1
                remaining &-= 1
            }
            // Eight bytes per step.
            while remaining >= 8 {
                let word = UInt64(littleEndian: p.load(as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = t[7 * 256 + Int(low & 0xFF)]
                    ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)]
                    ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)]
                    ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)]
                    ^ t[Int(high >> 24)]
                p += 8
                remaining &-= 8
            }
            while remaining > 0 {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)]
                p += 1
                remaining &-= 1
            }
            return ~crc
        }
    }

    /// The CRC-32C of a byte array.
    public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: previous) }
    }

    /// The CRC-32C of part of a byte array.
    public static func checksum(_ bytes: ArraySlice<UInt8>, continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: previous) }
    }
}
