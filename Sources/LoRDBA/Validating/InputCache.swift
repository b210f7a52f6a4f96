/// Seeded isotropic Gaussian inputs, one matrix per input width (modules of one width share
/// it), in Float32 and rounded to Float16.
struct InputCache {
    let tokens: Int
    let seed: UInt64
    private var cache: [Int: ([Float], [Float16], [Float])] = [:]

    init(tokens: Int, seed: UInt64) {
        self.tokens = tokens
        self.seed = seed
    }

    mutating func inputs(width: Int) -> ([Float], [Float16], [Float]) {
        if let hit = cache[width] { return hit }
        var rng = SeededGenerator(seed: seed &+ UInt64(width) &* 0x9E37_79B9_7F4A_7C15)
        let x = (0..<(tokens * width)).map { _ in rng.nextGaussian() }
        let half = x.map { Float16($0) }
        let entry = (x, half, half.map { Float($0) })
        cache[width] = entry
        return entry
    }
}
