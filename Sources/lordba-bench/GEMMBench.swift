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
        print("kernel     step 1 by XOR, tile \(SignGEMM.stepOneTile), for T < 8 or k < 8"
              + (SignGEMM.stepOneMethod == "tables" ? ", by 4-bit tables for blocks of 8 tokens" : " and all tokens (LORDBA_SIGN_STEP1=xor)")
              + " (follows the CPU path); step 2 by XOR for T < 8, "
              + (SignGEMM.stepTwoMethod == "tables" ? "by 256-entry tables for blocks of 8 tokens" : "by XOR for all tokens (LORDBA_SIGN_STEP2=xor)"))
        print("threads    \(threads); median of \(samples) samples of ≥ \(Format.fixed(minTime * 1000, 0)) ms each, the sign path, dense reference and OpenBLAS branch sampled in turn")
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

    /// Median seconds of one pass over a workload's modules in each form, at one T.
    struct WorkloadTimes {
        var sign: Double
        var dense: Double
        var blasBranch: Double?
        var base: Double?
    }

    /// Median seconds per call of `body`, with this run's samples, minimum time and clock.
    private func median(_ body: () -> Void) -> Double {
        Timing.median(samples: samples, minimumSeconds: minTime, clock: cpuTime ? .processCPU : .wall, body)
    }

    private func measure(_ p: Prepared, tokens t: Int) -> WorkloadTimes {
        let buffers = Buffers(p.workload, tokens: t)
        let threads = self.threads
        // The sign path, the dense reference and the OpenBLAS branch take their samples in turn,
        // so that their ratios compare the same minutes of a machine whose speed drifts.
        var paths: [() -> Void] = [
            {
                for (i, module) in p.sign.enumerated() {
                    let shape = p.workload.modules[i]
                    module.apply(buffers.x[shape.inFeatures]!, tokens: t, into: &buffers.y[shape.outFeatures]!,
                                 threads: threads)
                }
            },
            {
                for (i, module) in p.dense.enumerated() {
                    let shape = p.workload.modules[i]
                    module.apply(buffers.x[shape.inFeatures]!, tokens: t, into: &buffers.y[shape.outFeatures]!,
                                 threads: threads)
                }
            },
        ]
        if !p.blas.isEmpty {
            var hidden: [Float] = []
            paths.append {
                for (i, branch) in p.blas.enumerated() {
                    let shape = p.workload.modules[i]
                    branch.apply(buffers.x[shape.inFeatures]!, tokens: t, into: &buffers.y[shape.outFeatures]!, hidden: &hidden)
                }
            }
        }
        let times = Timing.medians(samples: samples, minimumSeconds: minTime, clock: cpuTime ? .processCPU : .wall, paths)
        var result = WorkloadTimes(sign: times[0], dense: times[1])
        if times.count > 2 { result.blasBranch = times[2] }
        if let blas = p.blasLibrary {
            var total = 0.0
            for (shape, count) in p.workload.baseShapes {
                let weights = p.baseWeights[shape]!
                let seconds = median {
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
