import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Number of CPUs this process may use.
public enum ProcessInfoCores {
    public static var count: Int {
        Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// Runs `body(i)` for `i` in `0..<count` on up to `threads` threads, handing out indices in order.
public enum ParallelLoop {
    public static func run(count: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
        let workers = Swift.max(1, Swift.min(threads, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= count { break }
                body(i)
            }
        }
    }
}
