import Foundation
import Testing
@testable import LoRDBA

@Suite struct SHA256Tests {
    @Test func knownDigests() {
        // FIPS 180-2 test vectors.
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func fileDigestReadsInChunksAndAgreesWithMemory() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var rng = SeededGenerator(seed: 3)
        let bytes = (0..<(3 << 20) + 17).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let path = dir.write("big.bin", bytes)
        #expect(try SHA256.hex(ofFile: path) == SHA256.hex(bytes))
        #expect(caught { () throws(FileError) in try SHA256.hex(ofFile: dir.path + "/missing") }?.operation == .open)
    }
}
