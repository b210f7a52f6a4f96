#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--shard I/N`: which of N parallel jobs this is (I counts from 1).
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1…count.
    public var index: Int
    public var count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, count <= 10_000, index >= 1, index <= count else { return nil }
        self.index = index
        self.count = count
    }

    /// Parses `I/N` (`2/8`), nil unless 1 ≤ I ≤ N ≤ 10000.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let i = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }
}

/// The partition of a batch over N shards: a pure function of the inputs' paths relative to the
/// root, their sizes and N, so every CI job computes the same one and together they cover the
/// batch exactly once.
///
/// Inputs are taken largest first (ties by a stable hash of the relative path, then the path
/// itself) and each goes to the shard with the fewest bytes so far (ties: the lowest shard), so
/// shards are balanced by input bytes (greedy longest-processing-time).
public enum ShardPartition {
    /// One input of the batch.
    public struct Item: Sendable, Equatable {
        /// The path relative to `--root` (`/`-separated, no `./`).
        public var path: String
        /// Its size in bytes (the weights file).
        public var bytes: Int

        public init(path: String, bytes: Int) {
            self.path = path
            self.bytes = bytes
        }
    }

    /// The shard (0-based) of each item, in item order.
    public static func assign(_ items: [Item], shards: Int) -> [Int] {
        precondition(shards >= 1)
        let order = items.indices.sorted { a, b in
            let (x, y) = (items[a], items[b])
            if x.bytes != y.bytes { return x.bytes > y.bytes }
            let (hx, hy) = (stableHash(x.path), stableHash(y.path))
            if hx != hy { return hx < hy }
            if x.path != y.path { return x.path.utf8.lexicographicallyPrecedes(y.path.utf8) }
            return a < b
        }
        var load = [Int](repeating: 0, count: shards)
        var shardOf = [Int](repeating: 0, count: items.count)
        for i in order {
            var best = 0
            for s in 1..<shards where load[s] < load[best] { best = s }
            shardOf[i] = best
            load[best] += Swift.max(0, items[i].bytes)
        }
        return shardOf
    }

    /// FNV-1a over the UTF-8 bytes: the same on every machine and Swift version (unlike `Hasher`).
    public static func stableHash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        return h
    }

    /// `input` relative to `root` when given (both resolved through symlinks; nil when the input
    /// is not under the root), else `input` itself with `./` and repeated `/` removed.
    public static func relativePath(_ input: String, root: String?) -> String? {
        guard let root else { return normalized(input) }
        guard let base = realPath(root), let full = realPath(input) else { return nil }
        if full == base { return "." }
        let prefix = base.hasSuffix("/") ? base : base + "/"
        guard full.hasPrefix(prefix) else { return nil }
        return String(full.dropFirst(prefix.count))
    }

    /// The bytes an input contributes: a file's size, or for a folder the sum of the
    /// `.safetensors` files directly in it (0 when it cannot be read; it then fails in its shard).
    public static func inputBytes(_ path: String) -> Int {
        guard let info = FileSystem.status(path) else { return 0 }
        if FileKind(mode: info.st_mode) != .directory { return Int(info.st_size) }
        var total = 0
        for name in FileSystem.entries(of: path) where name.hasSuffix(".safetensors") {
            if let child = FileSystem.status(path + "/" + name), FileKind(mode: child.st_mode) == .regular {
                total += Int(child.st_size)
            }
        }
        return total
    }

    private static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
