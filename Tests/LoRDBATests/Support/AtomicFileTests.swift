#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import LoRDBA

@Suite struct AtomicFileTests {
    @Test func writesCompleteFileAndLeavesNoTemporary() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        let path = directory + "/out.bin"
        let data: [UInt8] = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(data, to: path, overwrite: false)
        #expect(readFile(path) == data)
        #expect(directoryEntries(directory) == ["out.bin"])
        // Permissions follow the umask like any new file (not mkstemp's 0600).
        var info = stat()
        #expect(stat(path, &info) == 0)
        #if os(Linux)
        #expect(currentUmask() != nil)
        #endif
        if let mask = currentUmask() { #expect(info.st_mode & 0o777 == 0o666 & ~mask) }
    }

    @Test func refusesToReplaceWithoutOverwrite() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        let path = directory + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path, overwrite: false)
        #expect(throws: FileError(path: path, operation: .create, errno: EEXIST)) {
            try AtomicFile.write([4, 5], to: path, overwrite: false)
        }
        #expect(readFile(path) == [1, 2, 3])
        try AtomicFile.write([4, 5], to: path, overwrite: true)
        #expect(readFile(path) == [4, 5])
        #expect(directoryEntries(directory) == ["out.bin"])
        // A dangling symbolic link counts as an existing file.
        #expect(symlink(directory + "/nowhere", directory + "/link") == 0)
        #expect(throws: FileError.self) { try AtomicFile.write([1], to: directory + "/link", overwrite: false) }
        #expect(directoryEntries(directory) == ["link", "out.bin"])
    }

    @Test func failureAfterWritingRemovesTheTemporary() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        // A non-empty directory in the way: the data is written, then the rename fails.
        let path = directory + "/taken"
        #expect(mkdir(path, 0o755) == 0)
        #expect(mkdir(path + "/child", 0o755) == 0)
        #expect(throws: FileError.self) { try AtomicFile.write([UInt8](repeating: 9, count: 4096), to: path, overwrite: true) }
        #expect(directoryEntries(directory) == ["taken"])
        #expect(directoryEntries(path) == ["child"])
    }

    @Test func unwritableOrMissingDirectoryFails() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        // Missing folder, and a "folder" that is a regular file: fail even for root.
        #expect(throws: FileError.self) { try AtomicFile.write([1], to: directory + "/missing/out.bin", overwrite: false) }
        try AtomicFile.write([1], to: directory + "/file", overwrite: false)
        #expect(throws: FileError.self) { try AtomicFile.write([1], to: directory + "/file/out.bin", overwrite: true) }
        #expect(directoryEntries(directory) == ["file"])
        // A read-only folder (root ignores permissions, so only check when it really is read-only).
        let readOnly = directory + "/ro"
        #expect(mkdir(readOnly, 0o555) == 0)
        let probe = open(readOnly + "/probe", O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if probe >= 0 {
            close(probe)
            unlink(readOnly + "/probe")
        } else {
            #expect(throws: FileError.self) { try AtomicFile.write([1], to: readOnly + "/out.bin", overwrite: false) }
            #expect(directoryEntries(readOnly) == [])
        }
    }

    @Test func writerMapsErrorsAndRefusesToOverwrite() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        let path = directory + "/a.lba"
        let adapter = Fixtures.small()
        let first = try LBAWriter().write(adapter, to: path, overwrite: false)
        #expect(throws: LBAError.fileExists(path: path)) { try LBAWriter().write(adapter, to: path, overwrite: false) }
        var other = adapter
        other.metadata["k"] = "changed"
        #expect(readFile(path) == first.bytes)
        let second = try LBAWriter().write(other, to: path, overwrite: true)
        #expect(readFile(path) == second.bytes)
        #expect(try LBAFile(path: path).adapter.metadata["k"] == "changed")

        let missing = directory + "/no/such/dir/a.lba"
        do {
            try LBAWriter().write(adapter, to: missing, overwrite: false)
            Issue.record("wrote into a missing folder")
        } catch {
            guard case .io(let errorPath, _, let code) = error else { Issue.record("\(error)"); return }
            #expect(errorPath == missing && code == ENOENT)
            #expect(error.description.hasPrefix(missing + ": "))
        }
        // An invalid adapter is refused before anything is created.
        var invalid = adapter
        invalid.modules.append(invalid.modules[0])
        #expect(throws: LBAError.self) { try LBAWriter().write(invalid, to: directory + "/b.lba", overwrite: false) }
        #expect(directoryEntries(directory) == ["a.lba"])
    }

    @Test func readerReportsFileErrors() {
        #expect(throws: LBAError.io(path: "/nonexistent/x.lba", operation: .open, errno: ENOENT)) {
            try LBAFile(path: "/nonexistent/x.lba")
        }
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        #expect(throws: LBAError.self) { try LBAFile(path: directory) }
        _ = try? AtomicFile.write([], to: directory + "/empty.lba", overwrite: false)
        #expect(throws: LBAError.truncated(path: directory + "/empty.lba", context: "preamble", size: 0, needed: 64)) {
            try LBAFile(path: directory + "/empty.lba")
        }
    }
}

/// The process umask, read without changing it (from /proc/self/status), or `nil`.
private func currentUmask() -> mode_t? {
    guard let file = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("Umask:") {
            return mode_t(text.dropFirst(6).trimmingPrefix(while: { $0 == " " || $0 == "\t" }).prefix(while: \.isNumber), radix: 8)
        }
    }
    return nil
}
