#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
@testable import LoRDBA

/// The tests' one temporary-directory helper: a fresh directory (mkdtemp) under the system
/// temp folder, with writers for the files tests build by hand.
///
/// A test removes it with `defer { dir.remove() }` (an explicit call, so the directory cannot
/// vanish before the test's last use of a path in it). `remove()` also clears read-only
/// subfolders that tests create on purpose.
final class TempDir: TestFolder {
    let path: String

    init() {
        let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        var template = Array((base + "lordba-test-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    /// Deletes the directory and everything in it.
    func remove() { removeTree(path) }

    /// Creates the folder `<path>/<name>` (and its parents) and returns its path.
    func mkdir(_ name: String) -> String {
        let dir = path + "/" + name
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// The names in `directory` (without `.` and `..`), sorted.
func directoryEntries(_ directory: String) -> [String] {
    FileSystem.entries(of: directory)
}

/// The bytes of the file at `path`, or `nil` when it cannot be read.
func readFile(_ path: String) -> [UInt8]? {
    guard let file = try? MappedFile(path: path) else { return nil }
    return file.withBytes { Array($0) }
}

/// Removes a directory tree, making read-only folders writable first (`TempDir.remove`).
private func removeTree(_ path: String) {
    for name in directoryEntries(path) {
        let child = path + "/" + name
        var info = stat()
        if lstat(child, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            _ = chmod(child, 0o755)
            removeTree(child)
        } else {
            _ = unlink(child)
        }
    }
    _ = rmdir(path)
}

/// A folder tests write files into by hand (a ``TempDir``, or a folder inside one).
protocol TestFolder {
    var path: String { get }
}

extension TestFolder {
    /// Writes `bytes` to `<path>/<name>` and returns the file's path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = path + "/" + name
        precondition(FileManager.default.createFile(atPath: file, contents: Data(bytes)), "cannot write \(file)")
        return file
    }

    @discardableResult
    func write(_ name: String, text: String) -> String { write(name, Array(text.utf8)) }

    /// Writes a safetensors file of `tensors` (see `ReadingFixtures.tensor`).
    @discardableResult
    func writeTensors(_ name: String, _ tensors: [ReadingFixtures.Tensor], metadata: [String: String]? = nil) -> String {
        write(name, SafeTensorsWriter.serialize(tensors, metadata: metadata))
    }
}
