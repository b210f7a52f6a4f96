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
    ///
    /// At the top level the workers are Dispatch's (`concurrentPerform`). Inside a worker (a
    /// module's own threads while modules run in parallel) Dispatch would run a nested
    /// `concurrentPerform` on the calling thread alone, so there the extra workers are threads of
    /// their own, joined before returning; the calling thread works too.
    public static func run(count: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
        let workers = Swift.max(1, Swift.min(threads, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let loop: @Sendable () -> Void = {
                let outer = pthread_getspecific(nestingKey)
                pthread_setspecific(nestingKey, nestingMarker)
                defer { pthread_setspecific(nestingKey, outer) }
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    body(i)
                }
            }
            if pthread_getspecific(nestingKey) == nil {
                DispatchQueue.concurrentPerform(iterations: workers) { _ in loop() }
            } else {
                let spawned = (1..<workers).compactMap { _ in JoinableThread(loop) }
                loop()
                for thread in spawned { thread.join() }
            }
        }
    }

    /// Marks the threads running a loop's workers (its value is only compared with nil).
    private static let nestingKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()
    nonisolated(unsafe) private static let nestingMarker = UnsafeMutableRawPointer(bitPattern: 1)

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

/// A POSIX thread running one closure, joined by `join()` (nil when the system has no thread to
/// give; the caller's loop then does the work itself).
private struct JoinableThread {
    private final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let thread: pthread_t

    init?(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body))
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        guard status == 0 else {
            box.release()
            return nil
        }
        self.thread = thread
    }

    func join() {
        pthread_join(thread, nil)
    }
}
