import Foundation
import Testing
@testable import LoRDBA

/// `lordba-convert` colours its summary on a terminal only, and never when `NO_COLOR` is set
/// (https://no-color.org). The terminal is a pseudo-terminal from util-linux's `script`.
@Suite struct NoColorTests {
    let convert = Tool(name: "lordba-convert")
    /// The summary line after its (possibly coloured) `ok`.
    static let summary = "samples/minilm-cls-r8 → "

    /// Whether `text` holds an SGR (colour) escape, `ESC [ … m`.
    static func hasColour(_ text: String) -> Bool {
        text.range(of: "\u{1B}\\[[0-9;]*m", options: .regularExpression) != nil
    }

    /// Converts a sample with standard output on a pseudo-terminal; returns everything printed.
    func onTerminal(_ output: String, noColor: String?) throws -> String {
        let quoted = [convert.path, "samples/minilm-cls-r8", output, "--plain"].map { "'" + $0 + "'" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", quoted.joined(separator: " "), "/dev/null"]
        process.currentDirectoryURL = URL(fileURLWithPath: ReadingFixtures.packageRoot)
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = noColor
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func colourOnlyOnATerminalWithoutNoColor() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let coloured = try onTerminal(dir.path + "/a.lba", noColor: nil)
        #expect(coloured.contains(Self.summary), "\(coloured)")
        #expect(Self.hasColour(coloured), "\(coloured)")
        let plain = try onTerminal(dir.path + "/b.lba", noColor: "1")
        #expect(plain.contains("ok " + Self.summary), "\(plain)")
        #expect(!Self.hasColour(plain), "\(plain)")
        let piped = try convert.run(["samples/minilm-cls-r8", dir.path + "/c.lba", "--plain"], environment: ["NO_COLOR": ""])
        #expect(piped.status == 0 && piped.stdout.contains("ok " + Self.summary))
        #expect(!Self.hasColour(piped.stdout + piped.stderr))
    }
}
