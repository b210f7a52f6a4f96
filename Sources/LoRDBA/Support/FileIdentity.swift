#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file's identity (device and inode), so a run can tell that an output path names one of its
/// inputs however the two paths are spelled (links, `./`, symbolic links).
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    /// The identity of what `path` names, following symbolic links; `nil` when nothing is there.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// The identities of `path` and, when it is a folder, of every entry directly inside it
    /// (an adapter folder's weights and config), or, when it is a file, of the `sibling` files
    /// read with it (the config beside the weights), with the path each came from.
    public static func ofInput(_ path: String, siblings: [String] = []) -> [(FileIdentity, String)] {
        guard let own = FileIdentity(path: path) else { return [] }
        var found = [(own, path)]
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) else {
            let folder = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
            for name in siblings {
                if let identity = FileIdentity(path: folder + name) { found.append((identity, folder + name)) }
            }
            return found
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name == "." || name == ".." { continue }
            let child = path.hasSuffix("/") ? path + name : path + "/" + name
            if let identity = FileIdentity(path: child) { found.append((identity, child)) }
        }
        return found
    }
}
