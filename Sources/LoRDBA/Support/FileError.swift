#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file-system operation, with the path and the system's reason.
public struct FileError: Error, Equatable, CustomStringConvertible {
    /// What was being done to the path; its description is the verb of the message
    /// (`<path>: cannot <operation>: <reason>`).
    public enum Operation: Equatable, Sendable, CustomStringConvertible {
        case open, stat, read, write, sync, close, mmap, mkdir, rename, sha256
        /// Creating the destination (`errno == EEXIST`: it exists and may not be replaced).
        case create
        /// Creating the temporary file a destination is written through.
        case createTemporary
        /// Moving a finished temporary file into place.
        case renameInto
        /// Linking a finished temporary file into place (never replaces).
        case linkInto
        /// Opening a path that is a FIFO, device or socket.
        case openNonRegular
        /// Replacing a path that is not a regular file (`kind`: "a symbolic link", "a folder", …).
        case replaceNonRegular(kind: String)
        /// Writing a report over one of the inputs (`input` as the user named it).
        case writeOverInput(String)
        /// Exporting into a path that is not a folder.
        case exportInto
        /// Reading an input's report entry back from the run's temporary spool (``ReportSpool``).
        case readBackEntry(input: String)

        public var description: String {
            switch self {
            case .open: "open"
            case .stat: "stat"
            case .read: "read"
            case .write: "write"
            case .sync: "sync"
            case .close: "close"
            case .mmap: "mmap"
            case .mkdir: "mkdir"
            case .rename: "rename"
            case .sha256: "sha256"
            case .create: "create"
            case .createTemporary: "create a temporary file for"
            case .renameInto: "rename into"
            case .linkInto: "link into"
            case .openNonRegular: "open (not a regular file: a FIFO, device or socket)"
            case .replaceNonRegular(let kind): "replace \(kind) (only regular files are replaced)"
            case .writeOverInput(let input): "write over the input \(input)"
            case .exportInto: "export into"
            case .readBackEntry(let input): "read back the entry of \(input) from the temporary spool for"
            }
        }
    }

    public var path: String
    public var operation: Operation
    public var errno: Int32

    public init(path: String, operation: Operation, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    /// Whether this is the refusal to replace an existing destination.
    public var isExistingDestination: Bool { operation == .create && errno == EEXIST }

    public var description: String {
        "\(path): cannot \(operation): \(String(cString: strerror(errno)))"
    }
}
