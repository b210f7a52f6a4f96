import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

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
