/// A prepared module's sign bits and scales in 64-byte-aligned memory owned by the module.
///
/// `signA` and `signB` are the `.lba` rows (little-endian words, so byte `c` of a row holds
/// columns `8c … 8c + 7` on any host). `columnsB` holds `S_B` once more, by output: for output
/// `o` and channel group `g`, the byte of signs of channels `8g … 8g + 7` — the table index of
/// step 2 for blocks of 8 tokens (`k/8` bytes per output, as many bits as `signB`).
final class PackedModuleStorage: @unchecked Sendable {
    let signA: UnsafeMutablePointer<UInt64>
    let signB: UnsafeMutablePointer<UInt64>
    let columnsB: UnsafeMutablePointer<UInt8>
    let wordsPerRowA: Int
    let wordsPerRowB: Int
    let groups: Int
    let inputScale: UnsafeMutablePointer<Float>?
    let middle: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>

    var signABytes: UnsafePointer<UInt8> { UnsafeRawPointer(signA).assumingMemoryBound(to: UInt8.self) }
    var rowBytesA: Int { wordsPerRowA * 8 }

    init(_ module: BinaryModule) {
        wordsPerRowA = module.signA.wordsPerRow
        wordsPerRowB = module.signB.wordsPerRow
        signA = Self.copy(module.signA.words.map { $0.littleEndian })
        signB = Self.copy(module.signB.words.map { $0.littleEndian })
        let k = module.binaryRank
        let out = module.outFeatures
        let bits = SignKernel.groupBits
        groups = (k + bits - 1) / bits
        var columns = [UInt8](repeating: 0, count: out * groups)
        let words = module.signB.words
        for j in 0..<k {
            let g = j / bits, bit = UInt8(j % bits)
            for o in 0..<out where (words[j * wordsPerRowB + o / 64] >> UInt64(o % 64)) & 1 == 1 {
                columns[o * groups + g] |= 1 << bit
            }
        }
        columnsB = Self.copy(columns)
        inputScale = module.scales.input.map { Self.copy($0) }
        middle = Self.copy(module.scales.middle)
        output = Self.copy(module.scales.output)
    }

    deinit {
        signA.deallocate()
        signB.deallocate()
        columnsB.deallocate()
        inputScale?.deallocate()
        middle.deallocate()
        output.deallocate()
    }

    private static func copy<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, values.count) * MemoryLayout<T>.stride, alignment: 64)
        let typed = raw.bindMemory(to: T.self, capacity: Swift.max(1, values.count))
        for (i, value) in values.enumerated() { (typed + i).initialize(to: value) }
        return typed
    }
}
