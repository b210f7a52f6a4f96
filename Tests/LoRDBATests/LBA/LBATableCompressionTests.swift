import Testing
@testable import LoRDBA

@Suite struct LBATableCompressionTests {
    /// The writer stores the table as a zstd frame (format 1.1, flag bit 0, decoded length in the
    /// preamble) when that makes the file shorter, raw (1.0) otherwise; both read back the same.
    @Test func compressedTableRoundTripsAndIsShorter() throws {
        let adapter = Fixtures.adapter(seed: 3)
        let packed = try LBAWriter().encode(adapter)
        let raw = try LBAWriter(compression: false).encode(adapter)
        let flags = packed.bytes.withUnsafeBytes { $0.loadLE(UInt32.self, at: LBAFormat.Preamble.flags) }
        #expect(flags == LBAFormat.Flags.compressedTable)
        #expect(packed.bytes[LBAFormat.Preamble.minor] == 1)
        #expect(raw.bytes[LBAFormat.Preamble.minor] == 0)
        #expect(raw.bytes.withUnsafeBytes { $0.loadLE(UInt32.self, at: LBAFormat.Preamble.flags) } == 0)
        #expect(packed.bytes.count < raw.bytes.count)
        let a = try LBAFile(bytes: packed.bytes), b = try LBAFile(bytes: raw.bytes)
        expectSameAdapter(a.adapter, adapter)
        expectSameAdapter(b.adapter, adapter)
        #expect(a.version == LBAVersion(major: 1, minor: 1) && b.version == LBAVersion(major: 1, minor: 0))
    }

    /// A decoded length that is zero, past the cap, beyond zstd's ratio or simply wrong is refused;
    /// so is the flag in a 1.0 file and a decoded-length field set without the flag.
    @Test func badDecodedLengthsAndFlagsAreRefused() throws {
        let good = try LBAWriter().encode(Fixtures.adapter(seed: 4)).bytes
        let stored = good.withUnsafeBytes { Int($0.loadLE(UInt64.self, at: LBAFormat.Preamble.tableLength)) }
        let decoded = good.withUnsafeBytes { Int($0.loadLE(UInt64.self, at: LBAFormat.Preamble.tableDecodedLength)) }
        func patched(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
            var bytes = good
            edit(&bytes)
            bytes.storeLE(CRC32C.checksum(bytes[0..<LBAFormat.Preamble.preambleCRC]), at: LBAFormat.Preamble.preambleCRC)
            return bytes
        }
        for length in [0, decoded - 1, decoded + 1, LBAFormat.maximumTableLength + 1, stored * Zstd.maximumRatio + 1] {
            let bytes = patched { $0.storeLE(UInt64(length), at: LBAFormat.Preamble.tableDecodedLength) }
            #expect(throws: LBAError.self, "decoded length \(length)") { try LBAFile(bytes: bytes) }
            RejectedFiles.record(bytes, test: "table")
        }
        let oldVersion = patched { $0.storeLE(UInt16(0), at: LBAFormat.Preamble.minor) }
        #expect(throws: LBAError.self) { try LBAFile(bytes: oldVersion) }
        RejectedFiles.record(oldVersion, test: "table")
        let raw = try LBAWriter(compression: false).encode(Fixtures.adapter(seed: 4)).bytes
        var stray = raw
        stray.storeLE(UInt64(100), at: LBAFormat.Preamble.tableDecodedLength)
        stray.storeLE(CRC32C.checksum(stray[0..<LBAFormat.Preamble.preambleCRC]), at: LBAFormat.Preamble.preambleCRC)
        #expect(throws: LBAError.self) { try LBAFile(bytes: stray) }
        RejectedFiles.record(stray, test: "table")
    }
}
