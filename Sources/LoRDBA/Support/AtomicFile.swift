#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole files atomically: readers see either the old state or the complete new file.
///
/// The bytes go to a temporary file in the destination's folder (`<path>.lordba-tmp-<random>`,
/// removed if a SIGINT, SIGTERM or SIGHUP stops the process; see ``TemporaryFiles``), which
/// is flushed to disk with `fsync` and only then moved into place; the folder is synced after.
/// An existing destination is never replaced unless `overwrite` is true (without it the move is a
/// `link`, which fails atomically if the name was taken meanwhile). On any failure the
/// temporary file is removed and the destination is left as it was.
public enum AtomicFile {
    /// Writes `bytes` to `path`.
    /// - Throws: `FileError` naming `path`; `errno == EEXIST` with operation `create` when the
    ///   destination exists and `overwrite` is false.
    public static func write(_ bytes: [UInt8], to path: String, overwrite: Bool) throws(FileError) {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(FileError) in try write(buffer, to: path, overwrite: overwrite) }
        }.get()
    }

    /// Writes the bytes of `buffer` to `path`; see ``write(_:to:overwrite:)-([UInt8],_,_)``.
    public static func write(_ buffer: UnsafeRawBufferPointer, to path: String, overwrite: Bool) throws(FileError) {
        try write(to: path, overwrite: overwrite) { (sink: Sink) throws(FileError) in try sink.write(buffer) }
    }

    /// Where a file being written atomically receives its bytes, in order.
    public struct Sink {
        let fd: Int32
        let path: String

        /// Appends the bytes of `buffer`.
        public func write(_ buffer: UnsafeRawBufferPointer) throws(FileError) {
            try FileSystem.writeAll(fd, buffer, path: path)
        }

        /// Appends `bytes`.
        public func write(_ bytes: [UInt8]) throws(FileError) {
            try bytes.withUnsafeBytes { buffer in
                Result { () throws(FileError) in try write(buffer) }
            }.get()
        }
    }

    /// Writes to `path` what `produce` hands its sink, so that a large file is written piece by
    /// piece; see ``write(_:to:overwrite:)-([UInt8],_,_)``. If `produce` throws, nothing is placed.
    public static func write(to path: String, overwrite: Bool,
                             _ produce: (Sink) throws(FileError) -> Void) throws(FileError) {
        guard !path.isEmpty else { throw FileError(path: path, operation: .create, errno: ENOENT) }
        if !overwrite, FileSystem.exists(path) { throw FileError(path: path, operation: .create, errno: EEXIST) }
        if overwrite, let problem = replaceProblem(path) { throw problem }

        let (fd, temporary) = try createTemporary(for: path)
        var descriptor: Int32? = fd
        var placed = false
        defer {
            if let descriptor { _ = close(descriptor) }
            if !placed { _ = unlink(temporary) }
            TemporaryFiles.unregister(temporary)
        }

        try produce(Sink(fd: fd, path: path))
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: .sync, errno: errno) }
        // The descriptor, and with it the temporary file's lock, is held until the file is in
        // place, so that a run starting meanwhile never takes it for one left by a killed run.
        if overwrite {
            guard rename(temporary, path) == 0 else { throw FileError(path: path, operation: .renameInto, errno: errno) }
        } else {
            try linkNoReplace(temporary, path)
            _ = unlink(temporary)
        }
        placed = true
        descriptor = nil
        // fsync has reported any write error; closing now only releases the lock.
        _ = close(fd)
        syncDirectory(of: path)
    }

    /// Why `path` may not be replaced: it exists and is not a regular file (a symbolic link,
    /// FIFO, device, socket or folder is never replaced by a regular file), or `nil`.
    public static func replaceProblem(_ path: String) -> FileError? {
        guard let found = FileSystem.kind(of: path, followingLinks: false), found != .regular else { return nil }
        let kind = switch found {
        case .symbolicLink: "a symbolic link"
        case .directory: "a folder"
        case .fifo: "a FIFO"
        case .device: "a device"
        default: "not a regular file"
        }
        return FileError(path: path, operation: .replaceNonRegular(kind: kind), errno: EEXIST)
    }

    /// Creates `<path>.tmp-<random>` exclusively; returns its descriptor and name.
    private static func createTemporary(for path: String) throws(FileError) -> (Int32, String) {
        var generator = SystemRandomNumberGenerator()
        var lastError: Int32 = EEXIST
        for _ in 0..<32 {
            let suffix = String(generator.next() as UInt64, radix: 36)
            let temporary = "\(path)\(TemporaryFiles.marker)\(suffix)"
            // Registered before it exists, so a signal between the two still removes it.
            TemporaryFiles.register(temporary)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 {
                // Marks the file as being written (``TemporaryFiles/stale(for:before:)``); the
                // lock goes with the process, however it ends.
                _ = flock(fd, LOCK_EX | LOCK_NB)
                return (fd, temporary)
            }
            TemporaryFiles.unregister(temporary)
            lastError = errno
            if lastError != EEXIST && lastError != EINTR { break }
        }
        throw FileError(path: path, operation: .createTemporary, errno: lastError)
    }

    /// Moves `temporary` to `path` unless `path` exists, atomically where the file system has hard links.
    private static func linkNoReplace(_ temporary: String, _ path: String) throws(FileError) {
        if link(temporary, path) == 0 { return }
        let code = errno
        if code == EEXIST { throw FileError(path: path, operation: .create, errno: EEXIST) }
        // File systems without hard links: check, then rename (a narrow race remains).
        guard code == EPERM || code == ENOTSUP || code == EOPNOTSUPP || code == EMLINK || code == ENOSYS else {
            throw FileError(path: path, operation: .linkInto, errno: code)
        }
        if FileSystem.exists(path) { throw FileError(path: path, operation: .create, errno: EEXIST) }
        guard rename(temporary, path) == 0 else { throw FileError(path: path, operation: .renameInto, errno: errno) }
    }

    /// Makes the new directory entry durable (best effort: some file systems refuse).
    private static func syncDirectory(of path: String) {
        let fd = open(FileSystem.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = close(fd)
    }
}
