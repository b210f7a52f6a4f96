import Foundation
@testable import LoRDBA

/// The corrupted and crafted files the Swift reader rejects in the Writing tests, kept for the
/// Python reader: when `LORDBA_REJECTED_DIR` names a folder, each rejected file is written there
/// (named by test and SHA-256, so parallel tests never collide), and
/// `python/tests/test_lba.py` checks that `lordba.lba` rejects every one of them too.
enum RejectedFiles {
    static let folder: String? = {
        guard let dir = ProcessInfo.processInfo.environment["LORDBA_REJECTED_DIR"], !dir.isEmpty else { return nil }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Keeps `bytes`, which the Swift reader rejected in `test`.
    static func record(_ bytes: [UInt8], test: String) {
        guard let folder else { return }
        let digest = SHA256.hex(bytes).prefix(16)
        FileManager.default.createFile(atPath: "\(folder)/\(test)-\(digest).lba", contents: Data(bytes))
    }
}
