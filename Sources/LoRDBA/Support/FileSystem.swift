#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a path names.
public enum FileKind: Sendable, Equatable {
    case regular, directory, symbolicLink, fifo, device, socket, other

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFCHR, S_IFBLK: self = .device
        case S_IFSOCK: self = .socket
        default: self = .other
        }
    }
}

/// The file-system questions the package asks (kinds, folder entries, paths, opening a regular
/// file without blocking), answered with POSIX calls in one place.
public enum FileSystem {
    /// `stat` (following symbolic links) or `lstat` of `path`, or `nil` when the call fails.
    public static func status(_ path: String, followingLinks: Bool = true) -> stat? {
        var info = stat()
        let code = followingLinks ? stat(path, &info) : lstat(path, &info)
        return code == 0 ? info : nil
    }

    /// What `path` is, or `nil` when it does not exist (any other failure, such as a
    /// symbolic-link loop, is `.other`, so opening it reports the real reason).
    public static func kind(of path: String, followingLinks: Bool = true) -> FileKind? {
        guard let info = status(path, followingLinks: followingLinks) else {
            return errno == ENOENT || errno == ENOTDIR ? nil : .other
        }
        return FileKind(mode: info.st_mode)
    }

    /// Whether something (even a dangling symbolic link) exists at `path`.
    public static func exists(_ path: String) -> Bool {
        status(path, followingLinks: false) != nil
    }

    /// Names of the entries of `directory` (without `.` and `..`), sorted; empty when unreadable.
    public static func entries(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `directory` and `name` joined with one slash.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The folder holding `path` (`.` for a bare name, `/` for a name at the root).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The last component of `path`.
    public static func baseName(of path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
    }

    /// Opens the regular file at `path` read-only and returns its descriptor (the caller closes
    /// it) and `fstat`. Opened with `O_NONBLOCK` and checked on the open descriptor, so a FIFO,
    /// device or socket is refused without ever blocking (and without a race between a check
    /// and the open); symbolic links to regular files are followed.
    public static func openRegularFile(_ path: String) throws(FileError) -> (descriptor: Int32, status: stat) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw FileError(path: path, operation: .open, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw FileError(path: path, operation: .stat, errno: code)
        }
        switch FileKind(mode: info.st_mode) {
        case .regular:
            return (fd, info)
        case .directory:
            close(fd)
            throw FileError(path: path, operation: .open, errno: EISDIR)
        default:
            close(fd)
            throw FileError(path: path, operation: .openNonRegular, errno: EINVAL)
        }
    }

    /// Why an output folder cannot be used.
    public enum FolderProblem: Error, Equatable {
        /// Something that is not a folder is at the path.
        case notAFolder
        /// The folder exists but this process cannot create files in it (the system's reason).
        case notWritable(reason: String)
        /// The folder does not exist and could not be created (the system's reason).
        case cannotCreate(reason: String)

        /// One line naming the option and the folder, e.g. `--out-dir lba: cannot create: …`.
        public func message(option: String, path: String) -> String {
            switch self {
            case .notAFolder: "\(option) \(path) is not a folder."
            case .notWritable(let reason): "\(option) \(path): cannot write there: \(reason)"
            case .cannotCreate(let reason): "\(option) \(path): cannot create: \(reason)"
            }
        }
    }

    /// Makes sure `path` is a folder this process can write into, creating it (one level) when
    /// nothing is there.
    public static func ensureFolder(_ path: String) throws(FolderProblem) {
        if status(path) == nil {
            if mkdir(path, 0o755) == 0 { return }
            // Another process (a concurrent run into the same folder) may have made it meanwhile.
            guard errno == EEXIST else { throw .cannotCreate(reason: String(cString: strerror(errno))) }
        }
        guard let existing = status(path) else { throw .cannotCreate(reason: String(cString: strerror(ENOENT))) }
        guard (existing.st_mode & S_IFMT) == S_IFDIR else { throw .notAFolder }
        if access(path, W_OK | X_OK) != 0 { throw .notWritable(reason: String(cString: strerror(errno))) }
    }

    /// Up to `count` first bytes of the regular file at `path` (none when it is not a regular
    /// file or cannot be read).
    public static func prefix(of path: String, count: Int) -> [UInt8] {
        guard let (fd, _) = try? openRegularFile(path) else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n <= 0 { break }
            filled += n
        }
        return Array(bytes.prefix(filled))
    }
}
