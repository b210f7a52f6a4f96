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
        guard let info = FileSystem.status(path) else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// Whether `a` and `b` name the same existing file.
    public static func same(_ a: String, _ b: String) -> Bool {
        guard let x = FileIdentity(path: a) else { return false }
        return x == FileIdentity(path: b)
    }

    /// The identities of `path` and, when it is a folder, of every entry directly inside it
    /// (an adapter folder's weights and config), or, when it is a file, of the `sibling` files
    /// read with it (the config beside the weights), with the path each came from.
    public static func ofInput(_ path: String, siblings: [String] = []) -> [(FileIdentity, String)] {
        guard let own = FileIdentity(path: path) else { return [] }
        var found = [(own, path)]
        guard FileSystem.kind(of: path) == .directory else {
            let folder = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
            for name in siblings {
                if let identity = FileIdentity(path: folder + name) { found.append((identity, folder + name)) }
            }
            return found
        }
        for name in FileSystem.entries(of: path) {
            let child = FileSystem.join(path, name)
            if let identity = FileIdentity(path: child) { found.append((identity, child)) }
        }
        return found
    }
}
