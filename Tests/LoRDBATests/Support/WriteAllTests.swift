#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import LoRDBA

@Suite struct WriteAllTests {
    @Test func writesEveryByteAndReportsFailures() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let path = temp.path + "/out"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(bytes.withUnsafeBytes { FileSystem.writeAll(fd, $0) } == 0)
        close(fd)
        #expect(FileSystem.prefix(of: path, count: bytes.count + 1) == bytes)
        // A closed descriptor: the errno, and the throwing form names the path.
        #expect(bytes.withUnsafeBytes { FileSystem.writeAll(fd, $0) } == EBADF)
        #expect(throws: FileError(path: path, operation: .write, errno: EBADF)) {
            try bytes.withUnsafeBytes { buffer in
                Result { () throws(FileError) in try FileSystem.writeAll(fd, buffer, path: path) }
            }.get()
        }
    }

    /// The operations read as the verbs the messages always used.
    @Test func operationDescriptionsAreTheMessagesVerbs() {
        let cases: [(FileError.Operation, String)] = [
            (.create, "create"), (.createTemporary, "create a temporary file for"), (.renameInto, "rename into"),
            (.linkInto, "link into"), (.openNonRegular, "open (not a regular file: a FIFO, device or socket)"),
            (.replaceNonRegular(kind: "a folder"), "replace a folder (only regular files are replaced)"),
            (.writeOverInput("in.safetensors"), "write over the input in.safetensors"), (.exportInto, "export into"),
        ]
        for (operation, verb) in cases { #expect(operation.description == verb) }
        let error = FileError(path: "x.lba", operation: .create, errno: EEXIST)
        #expect(error.isExistingDestination)
        #expect(error.description == "x.lba: cannot create: \(String(cString: strerror(EEXIST)))")
        #expect(!FileError(path: "x.lba", operation: .write, errno: EEXIST).isExistingDestination)
    }
}
