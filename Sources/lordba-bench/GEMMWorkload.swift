import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// A module shape.
struct Shape: Hashable {
    var inFeatures: Int
    var outFeatures: Int
}

/// A set of modules timed together, and the base layers they adapt.
struct Workload {
    var name: String
    var modules: [Shape]
    /// Distinct base-layer shapes and how many layers have each.
    var baseShapes: [(Shape, Int)]

    func addsPerToken(rank: Int) -> Int {
        modules.reduce(0) { $0 + rank * ($1.inFeatures + $1.outFeatures) }
    }

    static func square(rank: Int) -> Workload {
        let shape = Shape(inFeatures: 4096, outFeatures: 4096)
        return Workload(name: "4096×4096 r\(rank)", modules: [shape], baseShapes: [(shape, 1)])
    }

    static func llama7B(rank: Int, layers: Int) -> Workload {
        let attention = Shape(inFeatures: 4096, outFeatures: 4096)
        let up = Shape(inFeatures: 4096, outFeatures: 11008)
        let down = Shape(inFeatures: 11008, outFeatures: 4096)
        let layer = [attention, attention, attention, attention, up, up, down]
        return Workload(name: "7B mix r\(rank) (\(layers * 7) modules)",
                        modules: Array((0..<layers).map { _ in layer }.joined()),
                        baseShapes: [(attention, 4 * layers), (up, 2 * layers), (down, layers)])
    }
}

/// Seeded modules of a workload in each form timed.
struct Prepared {
    let workload: Workload
    let sign: [SignGEMM]
    let dense: [DenseLowRank]
    let blas: [OpenBLASBranch]
    let blasLibrary: OpenBLAS?
    let baseWeights: [Shape: [Float]]

    init(_ workload: Workload, rank: Int, blas: OpenBLAS?) {
        self.workload = workload
        var rng = SeededGenerator(seed: 2024)
        var sign: [SignGEMM] = []
        var dense: [DenseLowRank] = []
        var branches: [OpenBLASBranch] = []
        for (i, shape) in workload.modules.enumerated() {
            let module = BinaryModule(
                name: "m\(i)", kind: .linear, loraRank: rank, loraScale: 2,
                signA: Self.randomSigns(rows: rank, cols: shape.inFeatures, &rng),
                signB: Self.randomSigns(rows: rank, cols: shape.outFeatures, &rng),
                // An input scale, as every module the converter writes has (the kernel multiplies it in).
                scales: ChannelScales(input: (0..<shape.inFeatures).map { _ in rng.nextUnitFloat() },
                                      middle: (0..<rank).map { _ in 0.01 * rng.nextUnitFloat() },
                                      output: (0..<shape.outFeatures).map { _ in rng.nextUnitFloat() }),
                source: LoRAModule.Source(aTensor: "a", bTensor: "b", dtype: .f16))
            sign.append(SignGEMM(module))
            dense.append(DenseLowRank(binary: module))
            if let blas {
                branches.append(OpenBLASBranch(blas: blas, a: Self.uniform(rows: rank, cols: shape.inFeatures, &rng),
                                               b: Self.uniform(rows: shape.outFeatures, cols: rank, &rng), scale: 2))
            }
        }
        self.sign = sign
        self.dense = dense
        self.blas = branches
        blasLibrary = blas
        var weights: [Shape: [Float]] = [:]
        if blas != nil {
            for (shape, _) in workload.baseShapes {
                weights[shape] = Self.uniform(rows: shape.outFeatures, cols: shape.inFeatures, &rng).values
            }
        }
        baseWeights = weights
    }

    static func randomSigns(rows: Int, cols: Int, _ rng: inout SeededGenerator) -> SignMatrix {
        var signs = SignMatrix(rows: rows, cols: cols)
        let wpr = signs.wordsPerRow
        for r in 0..<rows {
            for w in 0..<wpr {
                let valid = cols - w * 64
                signs.words[r * wpr + w] = valid >= 64 ? rng.next() : rng.next() & ((1 << UInt64(valid)) - 1)
            }
        }
        return signs
    }

    /// Values in [-0.01, 0.01): cheap to generate, never subnormal after a few products.
    static func uniform(rows: Int, cols: Int, _ rng: inout SeededGenerator) -> Matrix {
        var m = Matrix(rows: rows, cols: cols)
        for i in m.values.indices { m.values[i] = 0.02 * rng.nextUnitFloat() - 0.01 }
        return m
    }
}

/// Activations per input width and outputs per output width, for one T.
final class Buffers {
    var x: [Int: [Float]] = [:]
    var y: [Int: [Float]] = [:]

    init(_ workload: Workload, tokens: Int) {
        var rng = SeededGenerator(seed: UInt64(tokens))
        for shape in workload.modules {
            if x[shape.inFeatures] == nil {
                x[shape.inFeatures] = (0..<(tokens * shape.inFeatures)).map { _ in 2 * rng.nextUnitFloat() - 1 }
            }
            if y[shape.outFeatures] == nil {
                y[shape.outFeatures] = [Float](repeating: 0, count: tokens * shape.outFeatures)
            }
        }
    }
}
