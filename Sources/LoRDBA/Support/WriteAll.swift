#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileSystem {
    /// Writes every byte of `buffer` to `fd`: a short write continues where it stopped and an
    /// interrupted one (`EINTR`) is retried; at most 1 GiB goes to one `write` call.
    /// - Returns: 0, or the `errno` of the failure (`EIO` when the system accepts no byte).
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32 {
        guard var pointer = buffer.baseAddress else { return 0 }
        var remaining = buffer.count
        while remaining > 0 {
            #if canImport(Glibc)
            let written = Glibc.write(fd, pointer, min(remaining, 1 << 30))
            #else
            let written = Darwin.write(fd, pointer, min(remaining, 1 << 30))
            #endif
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if written == 0 { return EIO }
            pointer += written
            remaining -= written
        }
        return 0
    }

    /// ``writeAll(_:_:)``, throwing a `write` error naming `path`.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(FileError) {
        let code = writeAll(fd, buffer)
        guard code == 0 else { throw FileError(path: path, operation: .write, errno: code) }
    }
}
