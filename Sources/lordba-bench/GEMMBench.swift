import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// Times the sign GEMM against the dense LoRA branch (ours and OpenBLAS's) and against the base
/// layer's GEMM, for one 4096 × 4096 module and for the LLaMA-7B module mix, at T = 1 and 512.
struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Time the sign GEMM against dense LoRA branches (Swift and OpenBLAS) and the base layer GEMM.",
        discussion: """
            Workloads: one module with in = out = 4096, and the LLaMA-7B mix (per layer q,k,v,o 4096→4096, \
            gate,up 4096→11008, down 11008→4096; all modules of all layers, so the dense factors do not fit \
            in cache as they would not in a model). Signs and scales are seeded random (timing does not \
            depend on values). OpenBLAS is loaded at run time with dlopen("libopenblas.so.0"); without it \
            only the Swift paths are timed. The base GEMM of the mix is timed per distinct shape and \
            multiplied by the count of each shape.
            """)

    @Option(help: "Threads for the sign path, the dense reference and OpenBLAS.")
    var threads = ProcessInfoCores.count

    @Option(help: "Samples per measurement (the median is reported).")
    var samples = 7

    @Option(help: "Minimum seconds per sample (calls are repeated to reach it).")
    var minTime = 0.05

    @Option(help: "Token counts T (repeat the option for several).")
    var tokens: [Int] = [1, 512]

    @Option(help: "LoRA rank r (= binary rank k).")
    var rank = 16

    @Option(help: "Layers of the 7B mix.")
    var layers = 32

    @Flag(help: "Skip the 7B mix (only the 4096 × 4096 module).")
    var skipMix = false

    @Flag(help: "Instead of the workloads, compare ways of making sign masks in step 1 (L1-resident, one thread).")
    var maskVariants = false

    @Flag(help: "Count process CPU time instead of wall time (meaningful with --threads 1 on a busy machine).")
    var cpuTime = false

    @Option(help: ArgumentHelp("Time these shapes (INxOUT) instead of the standard workloads.", visibility: .hidden))
    var shape: [String] = []

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if samples < 1 { throw ValidationError("--samples must be at least 1.") }
        if tokens.contains(where: { $0 < 1 }) { throw ValidationError("--tokens must be positive.") }
        if rank < 1 || layers < 1 { throw ValidationError("--rank and --layers must be positive.") }
    }

    func run() throws {
        if maskVariants {
            MaskVariants.run(samples: samples)
            return
        }
        let machine = Machine.describe()
        print("machine    \(machine.model), \(ProcessInfoCores.count) cores online, \(Format.fixed(machine.megahertz, 0)) MHz (/proc/cpuinfo)")
        print("binary     \(siblingExecutable("lordba-bench"))")
        let blas: OpenBLAS?
        do {
            let loaded = try OpenBLAS.load()
            loaded.setThreads(threads)
            blas = loaded
            print("openblas   \(loaded.library): \(loaded.config); core \(loaded.coreName); \(loaded.threads.map(String.init) ?? "?") threads"
                  + (getenv("OPENBLAS_CORETYPE").map { " (OPENBLAS_CORETYPE=\(String(cString: $0)))" } ?? ""))
        } catch {
            blas = nil
            print("openblas   ABSENT: \(error.description) — OpenBLAS columns are skipped")
        }
        let peak = Peak.measure(threads: threads, megahertz: machine.megahertz)
        print("peak adds  nominal \(Format.fixed(peak.nominal / 1e9, 1)) G/s = \(threads) cores × \(Format.fixed(machine.megahertz / 1000, 2)) GHz × 16 (two 256-bit FP add pipes × 8 lanes, AVX2: Zen 2/3, Haswell–Ice Lake)")
        print("           measured \(Format.fixed(peak.measured / 1e9, 1)) G/s (independent SIMD8<Float> adds in this build, \(threads) threads)")
        let peakAdds = max(peak.nominal, peak.measured)
        print("           \"of peak\" below is against \(Format.fixed(peakAdds / 1e9, 1)) G/s, the larger of the two (the clock boosts above the nominal MHz)")
        print("load       \(procText("/proc/loadavg").split(separator: " ").prefix(3).joined(separator: " ")) (1, 5, 15 min load average before the run; other work on the machine slows every column)")
        print("cpu path   \(CPUDispatch.current.rawValue) kernels (C, chosen at run time by CPU features; LORDBA_CPU=sse2|avx2 forces one)")
        print("kernel     step 1 by XOR, tile \(SignGEMM.stepOneTile) (follows the CPU path); step 2 by XOR for T < 8, "
              + (SignGEMM.stepTwoMethod == "tables" ? "by 256-entry tables for blocks of 8 tokens" : "by XOR for all tokens (LORDBA_SIGN_STEP2=xor)"))
        print("threads    \(threads); median of \(samples) samples of ≥ \(Format.fixed(minTime * 1000, 0)) ms each")
        print("")

        var workloads = [Workload.square(rank: rank)]
        if !skipMix { workloads.append(Workload.llama7B(rank: rank, layers: layers)) }
        if !shape.isEmpty {
            workloads = try shape.map { text in
                let parts = text.split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--shape wants INxOUT, got \(text)") }
                let s = Shape(inFeatures: parts[0], outFeatures: parts[1])
                return Workload(name: "\(parts[0])×\(parts[1]) r\(rank)", modules: [s], baseShapes: [(s, 1)])
            }
        }
        var rows: [[String]] = []
        var verdicts: [String] = []
        for workload in workloads {
            let prepared = Prepared(workload, rank: rank, blas: blas)
            for t in tokens {
                let result = measure(prepared, tokens: t)
                let adds = Double(t) * Double(workload.addsPerToken(rank: rank))
                rows.append([
                    workload.name, String(t), micro(result.sign), micro(result.dense),
                    result.blasBranch.map(micro) ?? "-", result.base.map(micro) ?? "-",
                    result.blasBranch.map { Format.fixed(result.sign / $0, 2) + "×" } ?? "-",
                    result.base.map { Format.fixed(100 * result.sign / $0, 2) + " %" } ?? "-",
                    zip2(result.blasBranch, result.base).map { Format.fixed(100 * $0 / $1, 2) + " %" } ?? "-",
                    Format.fixed(adds / result.sign / 1e9, 1),
                    Format.fixed(100 * adds / result.sign / peakAdds, 0) + " %",
                ])
                if let blasTime = result.blasBranch {
                    let ratio = result.sign / blasTime
                    if t == 1 {
                        verdicts.append("\(workload.name), T = 1: sign path \(Format.fixed(ratio, 2))× the OpenBLAS branch (target ≤ 0.5×): \(ratio <= 0.5 ? "met" : "NOT met")")
                    } else if t == 512 {
                        verdicts.append("\(workload.name), T = 512: sign path \(Format.fixed(ratio, 2))× the OpenBLAS branch (target ≤ 1.2×): \(ratio <= 1.2 ? "met" : "NOT met")")
                    }
                }
                if t == 512, let base = result.base {
                    let overhead = result.sign / base
                    verdicts.append("\(workload.name), T = 512: overhead over the base GEMM \(Format.fixed(100 * overhead, 2)) % (target < 8 %): \(overhead < 0.08 ? "met" : "NOT met")")
                }
            }
        }
        print(Format.alignedTable(
            header: ["workload", "T", "sign µs", "dense µs", "openblas µs", "base µs", "sign/openblas",
                     "sign/base", "openblas/base", "G sign-adds/s", "of peak"],
            rows: rows, leftColumns: [0]))
        print("")
        print("sign = LoRDBA sign GEMM (XOR sign flips on packed bits); dense = our Float32 reference (x·Âᵀ then ·B̂ᵀ);")
        print("openblas = the dense LoRA branch through cblas_sgemm (x·Aᵀ then ·Bᵀ); base = the layer's own GEMM (T×in · in×out, fp32, OpenBLAS).")
        print("G sign-adds/s = T·k·(in+out) (the additions of ±x a naive sign GEMM does) per second of the sign path; for")
        print("T ≥ 8, step 2 reaches them with k/8 table loads and adds per output, so this can exceed the add peak.")
        for verdict in verdicts { print(verdict) }
        print("load after \(procText("/proc/loadavg").split(separator: " ").prefix(3).joined(separator: " "))")
    }

    private func micro(_ seconds: Double) -> String {
        Format.fixed(seconds * 1e6, seconds < 1e-4 ? 1 : 0)
    }

    private func zip2(_ a: Double?, _ b: Double?) -> (Double, Double)? {
        guard let a, let b else { return nil }
        return (a, b)
    }

    struct Result {
        var sign: Double
        var dense: Double
        var blasBranch: Double?
        var base: Double?
    }

    private func measure(_ p: Prepared, tokens t: Int) -> Result {
        let buffers = Buffers(p.workload, tokens: t)
        let threads = self.threads
        let sign = Timing.median(samples: samples, minimumSeconds: minTime, clock: cpuTime ? .processCPU : .wall) {
            for (i, module) in p.sign.enumerated() {
                let shape = p.workload.modules[i]
                module.apply(buffers.x[shape.inFeatures]!, tokens: t, into: &buffers.y[shape.outFeatures]!, threads: threads)
            }
        }
        let dense = Timing.median(samples: samples, minimumSeconds: minTime, clock: cpuTime ? .processCPU : .wall) {
            for (i, module) in p.dense.enumerated() {
                let shape = p.workload.modules[i]
                module.apply(buffers.x[shape.inFeatures]!, tokens: t, into: &buffers.y[shape.outFeatures]!, threads: threads)
            }
        }
        var result = Result(sign: sign, dense: dense)
        if !p.blas.isEmpty {
            var hidden: [Float] = []
            result.blasBranch = Timing.median(samples: samples, minimumSeconds: minTime, clock: cpuTime ? .processCPU : .wall) {
                for (i, branch) in p.blas.enumerated() {
                    let shape = p.workload.modules[i]
                    branch.apply(buffers.x[shape.inFeatures]!, tokens: t, into: &buffers.y[shape.outFeatures]!, hidden: &hidden)
                }
            }
        }
        if let blas = p.blasLibrary {
            var total = 0.0
            for (shape, count) in p.workload.baseShapes {
                let weights = p.baseWeights[shape]!
                let seconds = Timing.median(samples: samples, minimumSeconds: minTime, clock: cpuTime ? .processCPU : .wall) {
                    blas.multiplyTransposed(buffers.x[shape.inFeatures]!, rows: t, inner: shape.inFeatures, weights,
                                            columns: shape.outFeatures, into: &buffers.y[shape.outFeatures]!, beta: 1)
                }
                total += seconds * Double(count)
            }
            result.base = total
        }
        return result
    }
}

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
                scales: ChannelScales(input: nil, middle: (0..<rank).map { _ in 0.01 * rng.nextUnitFloat() },
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

/// The CPU as /proc/cpuinfo describes it.
enum Machine {
    static func describe() -> (model: String, megahertz: Double) {
        let text = procText("/proc/cpuinfo")
        var model = "unknown"
        var mhz = 0.0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingSpaces() }
            guard parts.count == 2 else { continue }
            if parts[0] == "model name", model == "unknown" { model = parts[1] }
            if parts[0] == "cpu MHz", mhz == 0 { mhz = Double(parts[1]) ?? 0 }
        }
        return (model, mhz)
    }
}

/// A /proc file's text (their size is reported as 0, so they are read, not mapped).
func procText(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// Peak float additions per second: nominal from the clock, and measured with a loop of
/// independent SIMD8<Float> adds (what this build's code generation reaches).
enum Peak {
    static func measure(threads: Int, megahertz: Double) -> (nominal: Double, measured: Double) {
        let nominal = Double(threads) * megahertz * 1e6 * 16
        let iterations = 4_000_000
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<3 {
            let start = clock.now
            ParallelLoop.run(count: threads, threads: threads) { seed in
                addLoop(iterations: iterations, seed: seed)
            }
            best = min(best, (clock.now - start).seconds)
        }
        return (nominal, Double(threads) * Double(iterations) * 8 * 8 / best)
    }

    @inline(never)
    static func addLoop(iterations: Int, seed: Int) {
        let step = SIMD8<Float>(repeating: Float(seed) * 1e-30 + 1e-20)
        var a0 = step, a1 = step, a2 = step, a3 = step, a4 = step, a5 = step, a6 = step, a7 = step
        for _ in 0..<iterations {
            a0 += step; a1 += step; a2 += step; a3 += step
            a4 += step; a5 += step; a6 += step; a7 += step
        }
        let total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        if total.sum() == -1 { print("") }
    }
}

/// Step 1's inner loop (4 tokens × 2 sign channels, 8 lanes) with different ways of turning 8
/// packed sign bits into something that negates 8 floats, on an L1-resident tile, one thread.
enum MaskVariants {
    typealias Lanes = SIMD8<Float>
    typealias Bits = SIMD8<UInt32>

    static func run(samples: Int) {
        let chunks = 128, stride = chunks * 8, channels = 16
        let x = UnsafeMutablePointer<Float>.allocate(capacity: 4 * stride)
        let signs = UnsafeMutablePointer<UInt8>.allocate(capacity: channels * chunks)
        let table = UnsafeMutablePointer<Bits>.allocate(capacity: 256)
        let ones = UnsafeMutablePointer<Lanes>.allocate(capacity: 256)
        defer { x.deallocate(); signs.deallocate(); table.deallocate(); ones.deallocate() }
        var rng = SeededGenerator(seed: 3)
        for i in 0..<(4 * stride) { x[i] = 2 * rng.nextUnitFloat() - 1 }
        for i in 0..<(channels * chunks) { signs[i] = UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<256 {
            var m = Bits(repeating: 0), f = Lanes(repeating: 1)
            for l in 0..<8 where (b >> l) & 1 == 1 { m[l] = 0x8000_0000; f[l] = -1 }
            table[b] = m
            ones[b] = f
        }
        let adds = Double(4 * stride * channels)
        var sink: Float = 0
        func time(_ name: String, _ body: (UnsafePointer<UInt8>, UnsafePointer<UInt8>) -> SIMD8<Float>) {
            let seconds = Timing.median(samples: samples, minimumSeconds: 0.05, clock: .processCPU) {
                for j in Swift.stride(from: 0, to: channels, by: 2) {
                    sink += body(signs + j * chunks, signs + (j + 1) * chunks).sum()
                }
            }
            print(name.padding(48) + Format.fixed(adds / seconds / 1e9, 1) + " G sign-adds/s")
        }
        print("step 1, 4 tokens × 2 channels × 1024 columns, in L1, one thread, median of \(samples) (process CPU time):")
        time("256-entry table of XOR masks, 4 × 2 tile") { s0, s1 in
            tile(x, stride, chunks) { c in (table[Int(s0[c])], table[Int(s1[c])]) }
        }
        time("same table, 4 × 1 tile") { s0, s1 in
            var sums = SIMD8<Float>()
            for (n, s) in [s0, s1].enumerated() {
                var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
                var q = UnsafePointer(x)
                for c in 0..<chunks {
                    let m = table[Int(s[c])]
                    a0 += unsafeBitCast(UnsafeRawPointer(q).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    a1 += unsafeBitCast(UnsafeRawPointer(q + stride).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    a2 += unsafeBitCast(UnsafeRawPointer(q + 2 * stride).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    a3 += unsafeBitCast(UnsafeRawPointer(q + 3 * stride).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    q += 8
                }
                sums[n] = a0.sum() + a1.sum() + a2.sum() + a3.sum()
            }
            return sums
        }
        let shifts = Bits(31, 30, 29, 28, 27, 26, 25, 24)
        time("variable shifts: (byte << (31 − lane)) & sign") { s0, s1 in
            tile(x, stride, chunks) { c in
                ((Bits(repeating: UInt32(s0[c])) &<< shifts) & 0x8000_0000,
                 (Bits(repeating: UInt32(s1[c])) &<< shifts) & 0x8000_0000)
            }
        }
        let laneBit = Bits(1, 2, 4, 8, 16, 32, 64, 128)
        let factor = Bits(0x8000_0000, 0x4000_0000, 0x2000_0000, 0x1000_0000, 0x0800_0000, 0x0400_0000, 0x0200_0000, 0x0100_0000)
        time("lane bit times 2^(31 − lane): (b & bit) &* f") { s0, s1 in
            tile(x, stride, chunks) { c in
                ((Bits(repeating: UInt32(s0[c])) & laneBit) &* factor, (Bits(repeating: UInt32(s1[c])) & laneBit) &* factor)
            }
        }
        time("SIMDMask select (replacing(with:where:))") { s0, s1 in
            var a = [Lanes](repeating: Lanes(), count: 8)
            var q = UnsafePointer(x)
            for c in 0..<chunks {
                let m0 = (Bits(repeating: UInt32(s0[c])) & laneBit) .!= 0
                let m1 = (Bits(repeating: UInt32(s1[c])) & laneBit) .!= 0
                for t in 0..<4 {
                    let v = UnsafeRawPointer(q + t * stride).loadUnaligned(as: Lanes.self)
                    a[2 * t] += v.replacing(with: -v, where: m0)
                    a[2 * t + 1] += v.replacing(with: -v, where: m1)
                }
                q += 8
            }
            return SIMD8(a.map { $0.sum() })
        }
        time("±1.0 table and multiply-add (no XOR)") { s0, s1 in
            var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
            var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
            var q = UnsafePointer(x)
            for c in 0..<chunks {
                let m0 = ones[Int(s0[c])], m1 = ones[Int(s1[c])]
                let x0 = UnsafeRawPointer(q).loadUnaligned(as: Lanes.self)
                let x1 = UnsafeRawPointer(q + stride).loadUnaligned(as: Lanes.self)
                let x2 = UnsafeRawPointer(q + 2 * stride).loadUnaligned(as: Lanes.self)
                let x3 = UnsafeRawPointer(q + 3 * stride).loadUnaligned(as: Lanes.self)
                a00 = x0 * m0 + a00; a01 = x0 * m1 + a01; a10 = x1 * m0 + a10; a11 = x1 * m1 + a11
                a20 = x2 * m0 + a20; a21 = x2 * m1 + a21; a30 = x3 * m0 + a30; a31 = x3 * m1 + a31
                q += 8
            }
            return SIMD8(a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
        }
        if sink.isNaN { print("") }
    }

    /// The 4 × 2 XOR tile with masks from `masks(chunk)`.
    @inline(__always)
    static func tile(_ x: UnsafePointer<Float>, _ stride: Int, _ chunks: Int, _ masks: (Int) -> (Bits, Bits)) -> SIMD8<Float> {
        var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
        var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
        var q = x
        for c in 0..<chunks {
            let (m0, m1) = masks(c)
            let x0 = UnsafeRawPointer(q).loadUnaligned(as: Bits.self)
            let x1 = UnsafeRawPointer(q + stride).loadUnaligned(as: Bits.self)
            let x2 = UnsafeRawPointer(q + 2 * stride).loadUnaligned(as: Bits.self)
            let x3 = UnsafeRawPointer(q + 3 * stride).loadUnaligned(as: Bits.self)
            a00 += unsafeBitCast(x0 ^ m0, to: Lanes.self); a01 += unsafeBitCast(x0 ^ m1, to: Lanes.self)
            a10 += unsafeBitCast(x1 ^ m0, to: Lanes.self); a11 += unsafeBitCast(x1 ^ m1, to: Lanes.self)
            a20 += unsafeBitCast(x2 ^ m0, to: Lanes.self); a21 += unsafeBitCast(x2 ^ m1, to: Lanes.self)
            a30 += unsafeBitCast(x3 ^ m0, to: Lanes.self); a31 += unsafeBitCast(x3 ^ m1, to: Lanes.self)
            q += 8
        }
        return SIMD8(a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: Swift.max(1, width - count)) }
}
