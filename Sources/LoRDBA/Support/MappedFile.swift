#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file, unmapped when the last reference goes away.
///
/// Tensor data is read straight from the map; nothing is copied until a factor is
/// converted to `Float`. An empty file is represented without a mapping.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    private let base: UnsafeRawPointer?
    /// Size of the file in bytes.
    public let count: Int
    /// The file's identity (`st_dev`, `st_ino`), to tell whether an output would replace it.
    public let device: UInt64
    public let inode: UInt64

    /// Maps `path` read-only.
    ///
    /// The file is opened with `O_NONBLOCK` and checked with `fstat` on the open descriptor, so
    /// a FIFO, device or socket is refused without ever blocking (and without a race between a
    /// check and the open). Symbolic links to regular files are followed.
    /// - Throws: `FileError` when the file cannot be opened, is not a regular file or cannot be mapped.
    public init(path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, operation: "stat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw FileError(path: path, operation: "open", errno: EISDIR) }
            throw FileError(path: path, operation: "open (not a regular file: a FIFO, device or socket)", errno: EINVAL)
        }
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
        let size = Int(info.st_size)
        var mapped: UnsafeRawPointer? = nil
        if size > 0 {
            guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
                throw FileError(path: path, operation: "mmap", errno: errno)
            }
            mapped = UnsafeRawPointer(p)
        }
        self.path = path
        self.base = mapped
        self.count = size
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Calls `body` with the file's bytes; the pointer must not escape the closure.
    @inlinable
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(rawBytes)
    }

    @usableFromInline
    var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Tells the kernel the pages of `range` are no longer needed, so they leave the resident set.
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound / page) * page
        let end = Swift.min(count, ((range.upperBound + page - 1) / page) * page)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }
}

/// A failed file-system operation, with the path and the system's reason.
public struct FileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(path): cannot \(operation): \(String(cString: strerror(errno)))"
    }
}
