import LoRDBA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where the command's lines go. Human lines go to standard output, or to standard error when a
/// report is written to standard output (`-`), so that `--report-json - | jq .` parses; errors
/// always go to standard error. Lines are written whole (one `write` each, under a lock), so
/// lines from worker threads never interleave.
struct Console: Sendable {
    /// Whether human lines go to standard error because a report takes standard output.
    var reportOnStandardOutput = false

    private static let lock = Mutex(())

    /// The descriptor human lines go to.
    var humanDescriptor: Int32 { reportOnStandardOutput ? STDERR_FILENO : STDOUT_FILENO }

    /// Whether human lines may be coloured: they go to a terminal and `NO_COLOR` is not set
    /// (https://no-color.org: any non-empty value turns colour off).
    var colour: Bool { isatty(humanDescriptor) != 0 && (Environment.value("NO_COLOR") ?? "").isEmpty }

    /// A line for the user.
    func human(_ line: String) { Self.write(line + "\n", to: humanDescriptor) }

    /// A document on standard output, as is.
    func document(_ text: String) { Self.write(text, to: STDOUT_FILENO) }

    /// A line on standard error.
    static func error(_ line: String) { write(line + "\n", to: STDERR_FILENO) }

    /// Text on standard error as is (the progress line).
    static func standardError(_ text: String) { write(text, to: STDERR_FILENO) }

    private static func write(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

extension Environment {
    /// `GITHUB_STEP_SUMMARY` when set and not empty.
    static var stepSummary: String? { value("GITHUB_STEP_SUMMARY").flatMap { $0.isEmpty ? nil : $0 } }

    /// Whether the run is a GitHub Actions job (annotations are understood).
    static var githubActions: Bool { value("GITHUB_ACTIONS") == "true" }
}

/// Writes one line to standard error.
func printError(_ message: String) { Console.error(message) }
