#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The temporary files this process is writing, removed if it is stopped by SIGINT, SIGTERM
/// or SIGHUP before they are moved into place.
///
/// Names live in a fixed table of C strings so the signal handler only reads memory and calls
/// `unlink` (both async-signal-safe); the handler then restores the default action and
/// re-raises the signal, so the process still ends the way the signal asked.
public enum TemporaryFiles {
    /// The marker every temporary file name carries: `<output>.lordba-tmp-<random>`.
    public static let marker = ".lordba-tmp-"
    private static let capacity = 256
    private nonisolated(unsafe) static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let table = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        table.initialize(repeating: nil, count: capacity)
        return table
    }()
    private static let lock = Mutex(false)  // holds whether the handlers are installed

    /// Records `path` for removal on a signal (installs the handlers on first use).
    static func register(_ path: String) {
        lock.withLock { installed in
            if !installed {
                for signal in [SIGINT, SIGTERM, SIGHUP] { _ = Glibc.signal(signal, handler) }
                installed = true
            }
            for i in 0..<capacity where slots[i] == nil {
                slots[i] = strdup(path)
                return
            }
        }
    }

    /// Forgets `path` (it was moved into place or removed).
    static func unregister(_ path: String) {
        lock.withLock { _ in
            for i in 0..<capacity {
                guard let name = slots[i], strcmp(name, path) == 0 else { continue }
                slots[i] = nil
                free(name)
                return
            }
        }
    }

    private static let handler: @convention(c) (Int32) -> Void = { signal in
        for i in 0..<TemporaryFiles.capacity {
            if let name = TemporaryFiles.slots[i] { _ = unlink(name) }
        }
        _ = Glibc.signal(signal, nil)  // SIG_DFL
        _ = raise(signal)
    }

    /// Temporary files of ours for `output` (`<output>.lordba-tmp-*`, regular files) last
    /// modified before `time` (seconds since the epoch) and not locked by a writer: left by a run
    /// that was killed. A run still writing one holds its lock (``AtomicFile``), so a run
    /// started meanwhile leaves it alone.
    public static func stale(for output: String, before time: Int) -> [String] {
        let folder = FileSystem.directory(of: output)
        let prefix = FileSystem.baseName(of: output) + marker
        var found: [String] = []
        for name in FileSystem.entries(of: folder) where name.hasPrefix(prefix) {
            let path = folder == "/" ? "/" + name : (output.contains("/") ? folder + "/" + name : name)
            guard let info = FileSystem.status(path, followingLinks: false), FileKind(mode: info.st_mode) == .regular,
                  Int(info.st_mtim.tv_sec) < time, !isLocked(path) else { continue }
            found.append(path)
        }
        return found.sorted()
    }

    /// Whether another process holds `path`'s lock (a writer of ours is still at work).
    private static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { _ = close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }
}
