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

    /// Maps `path` read-only.
    ///
    /// Opened with ``FileSystem/openRegularFile(_:)``: a FIFO, device or socket is refused
    /// without ever blocking; symbolic links to regular files are followed.
    /// - Throws: `FileError` when the file cannot be opened, is not a regular file or cannot be mapped.
    public init(path: String) throws(FileError) {
        let (fd, info) = try FileSystem.openRegularFile(path)
        defer { close(fd) }
        let size = Int(info.st_size)
        var mapped: UnsafeRawPointer? = nil
        if size > 0 {
            guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
                throw FileError(path: path, operation: .mmap, errno: errno)
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
