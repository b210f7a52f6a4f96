#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where a run keeps its inputs' `--report-json` entries while the batch goes on, so that what it
/// holds in memory does not grow with the inputs: each converted input's entry is serialized as
/// the input finishes and appended to a temporary file that has no name (unlinked as soon as it
/// is made, so nothing is left behind however the run ends), and the run keeps only
/// ``ConversionReport/retainedRecord(keepingSummary:)``. The report is then written by
/// reading the entries back in input order (``RunReportJSON``).
final class ReportSpool: Sendable {
    /// One stored entry: where its text is, and the paths of its NaN or ±∞ numbers relative to
    /// the entry (`modules[3].rho_a`).
    struct Entry: Sendable {
        var offset: Int
        var length: Int
        var nonFinite: [String]
    }

    private struct State {
        var end = 0
        var entries: [Int: Entry] = [:]
    }

    private let descriptor: Int32
    private let state = Mutex(State())

    /// A spool in the system's temporary folder (`TMPDIR`, else `/tmp`), or nil when none can be
    /// made there (the run then keeps whole reports).
    init?() {
        let folder = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array(FileSystem.join(folder, "lordba-report-spool.XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
        descriptor = fd
    }

    deinit { _ = close(descriptor) }

    /// Stores `report`'s entry as job `job`'s; false if it could not be written (the caller then
    /// keeps the whole report, and ``entry(job:)`` has nothing for that job).
    func store(_ report: ConversionReport, job: Int) -> Bool {
        let value = ReportJSON.input(report)
        let text = value.serializedBytes(indent: RunReportJSON.indent, level: JSONObjectStream.itemLevel)
        let nonFinite = value.nonFinitePaths()
        return state.withLock { state in
            let code = text.withUnsafeBytes { FileSystem.writeAll(descriptor, $0) }
            guard code == 0 else {
                // A short write leaves the file's offset past `end`: put it back for the next entry.
                _ = lseek(descriptor, off_t(state.end), SEEK_SET)
                return false
            }
            state.entries[job] = Entry(offset: state.end, length: text.count, nonFinite: nonFinite)
            state.end += text.count
            return true
        }
    }

    /// Job `job`'s entry as stored, or nil when none was.
    /// - Throws: the system's reason when the stored text cannot be read back (operation
    ///   ``FileError/Operation/readBackEntry(input:)``, `path` and `input` left for the caller).
    func entry(job: Int) throws(FileError) -> (text: [UInt8], nonFinite: [String])? {
        guard let entry = state.withLock({ $0.entries[job] }) else { return nil }
        var text = [UInt8](repeating: 0, count: entry.length)
        var done = 0
        while done < entry.length {
            let n = text.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, entry.length - done, off_t(entry.offset + done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FileError(path: "", operation: .readBackEntry(input: ""), errno: n < 0 ? errno : EIO) }
            done += n
        }
        return (text, entry.nonFinite)
    }
}
