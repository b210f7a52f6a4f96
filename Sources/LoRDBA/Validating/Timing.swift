#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Timing by medians.
public enum Timing {
    /// What a measurement counts.
    public enum Clock: Sendable {
        /// Elapsed wall-clock time (what a user waits for).
        case wall
        /// CPU time of the whole process (all threads): with one thread, the time the kernel ran,
        /// without the time other processes on a busy machine took.
        case processCPU
    }

    /// Median seconds per call of `body`: after one warm-up call, the number of calls per
    /// sample is raised until a sample lasts at least `minimumSeconds`, then `samples` samples
    /// are taken.
    public static func median(samples: Int = 5, minimumSeconds: Double = 0.02, clock: Clock = .wall,
                              _ body: () -> Void) -> Double {
        withoutActuallyEscaping(body) { medians(samples: samples, minimumSeconds: minimumSeconds, clock: clock, [$0])[0] }
    }

    /// Median seconds per call of each of `bodies`, their samples taken in turn (one sample of
    /// each, then the next round), so that a machine whose speed drifts from minute to minute
    /// slows all of them alike and their ratios stay meaningful. Each body is warmed up and
    /// calibrated first as in ``median(samples:minimumSeconds:clock:_:)``.
    public static func medians(samples: Int = 5, minimumSeconds: Double = 0.02, clock: Clock = .wall,
                               _ bodies: [() -> Void]) -> [Double] {
        func now() -> Double {
            var spec = timespec()
            clock_gettime(clock == .wall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &spec)
            return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
        }
        let calls = bodies.map { body -> Int in
            body()
            var calls = 1
            while true {
                let start = now()
                for _ in 0..<calls { body() }
                let elapsed = now() - start
                if elapsed >= minimumSeconds || calls >= 1 << 24 { return calls }
                calls = elapsed <= 0 ? calls * 16 : Swift.max(calls + 1, Int(Double(calls) * 1.2 * minimumSeconds / elapsed))
            }
        }
        var times = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<Swift.max(1, samples) {
            for (i, body) in bodies.enumerated() {
                let start = now()
                for _ in 0..<calls[i] { body() }
                times[i].append((now() - start) / Double(calls[i]))
            }
        }
        return times.map { Median.of($0)! }
    }
}
