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

/// The one way this package runs work in parallel: indices are handed out in order to up to
/// `threads` workers, and results land in their index's slot, so the outcome never depends on
/// the thread count or on which worker finished first.
public enum ParallelLoop {
    /// Runs `body(i)` for `i` in `0..<count` on up to `threads` threads.
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

    /// `[transform(0), transform(1), …]` computed on up to `threads` threads, in index order.
    /// Every index runs; when some throw, the error of the lowest one is thrown (the same error
    /// whatever the thread count). A non-throwing `transform` makes this non-throwing.
    public static func map<T, E: Error>(count: Int, threads: Int,
                                        _ transform: @Sendable (Int) throws(E) -> T) throws(E) -> [T] {
        var slots = [Result<T, E>?](repeating: nil, count: count)
        slots.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer  // each index is written by one worker only
            run(count: count, threads: threads) { i in out[i] = Result { () throws(E) -> T in try transform(i) } }
        }
        var results: [T] = []
        results.reserveCapacity(count)
        for slot in slots { results.append(try slot!.get()) }
        return results
    }
}
