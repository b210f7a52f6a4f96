#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import LoRDBA

@Suite struct FileSystemTests {
    @Test func kindsEntriesAndExistence() {
        let temp = TempDir()
        defer { temp.remove() }
        let file = temp.write("b.bin", [1, 2, 3])
        let folder = temp.mkdir("a")
        #expect(symlink(temp.path + "/missing", temp.path + "/dangling") == 0)
        #expect(mkfifo(temp.path + "/pipe", 0o600) == 0)

        #expect(FileSystem.kind(of: file) == .regular)
        #expect(FileSystem.kind(of: folder) == .directory)
        #expect(FileSystem.kind(of: temp.path + "/pipe") == .fifo)
        #expect(FileSystem.kind(of: temp.path + "/dangling") == nil)
        #expect(FileSystem.kind(of: temp.path + "/dangling", followingLinks: false) == .symbolicLink)
        #expect(FileSystem.kind(of: file + "/below") == nil)  // ENOTDIR counts as absent
        #expect(FileSystem.exists(temp.path + "/dangling"))
        #expect(!FileSystem.exists(temp.path + "/missing"))
        #expect(FileSystem.entries(of: temp.path) == ["a", "b.bin", "dangling", "pipe"])
        #expect(FileSystem.entries(of: temp.path + "/missing") == [])
    }

    @Test func openRegularFileRefusesFoldersAndFIFOsWithoutBlocking() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let file = temp.write("x", [9, 8, 7, 6])
        #expect(mkfifo(temp.path + "/pipe", 0o600) == 0)
        let (fd, status) = try FileSystem.openRegularFile(file)
        close(fd)
        #expect(status.st_size == 4)
        #expect(throws: FileError(path: temp.path, operation: .open, errno: EISDIR)) {
            _ = try FileSystem.openRegularFile(temp.path)
        }
        #expect(throws: FileError(path: temp.path + "/pipe", operation: .openNonRegular,
                                  errno: EINVAL)) {
            _ = try FileSystem.openRegularFile(temp.path + "/pipe")
        }
        #expect(FileSystem.prefix(of: file, count: 2) == [9, 8])
        #expect(FileSystem.prefix(of: temp.path + "/pipe", count: 2) == [])
    }

    @Test func pathsAndIdentity() {
        #expect(FileSystem.directory(of: "a.lba") == ".")
        #expect(FileSystem.directory(of: "/a.lba") == "/")
        #expect(FileSystem.directory(of: "out/x/a.lba") == "out/x")
        #expect(FileSystem.join("out/", "a") == "out/a")
        #expect(FileSystem.join("out", "a") == "out/a")
        #expect(FileSystem.baseName(of: "out/x/a.lba") == "a.lba")
        let temp = TempDir()
        defer { temp.remove() }
        let file = temp.write("f", [1])
        #expect(link(file, temp.path + "/g") == 0)
        #expect(FileIdentity.same(file, temp.path + "/./g"))
        #expect(!FileIdentity.same(file, temp.path))
        #expect(!FileIdentity.same(temp.path + "/missing", temp.path + "/missing"))
    }
}

@Suite struct EnsureFolderTests {
    /// An output folder is created once, accepted when it exists, and refused (with the option
    /// and path in the message) when a file is in the way or its parent is missing.
    @Test func createsAcceptsAndRefuses() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let folder = dir.path + "/out"
        try FileSystem.ensureFolder(folder)
        #expect(FileSystem.kind(of: folder) == .directory)
        try FileSystem.ensureFolder(folder)
        let file = dir.write("file", text: "x")
        #expect(throws: FileSystem.FolderProblem.notAFolder) { try FileSystem.ensureFolder(file) }
        #expect(FileSystem.FolderProblem.notAFolder.message(option: "--out-dir", path: file) == "--out-dir \(file) is not a folder.")
        do {
            try FileSystem.ensureFolder(dir.path + "/missing/out")
            Issue.record("a folder under a missing parent was accepted")
        } catch {
            guard case .cannotCreate = error else { Issue.record("\(error)"); return }
            #expect(error.message(option: "--out-dir", path: "p").hasPrefix("--out-dir p: cannot create: "))
        }
    }
}

