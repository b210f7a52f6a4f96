import ArgumentParser
import LoRDBA

/// The exit codes each subcommand documents in its `--help` (the same contract as docs/cli.md).
enum ExitCodes {
    static let convert = """
        Exit codes: 0 everything converted; 1 at least one input failed (one line on stderr each, \
        no output left behind; the other inputs of a batch still convert) or a report could not be \
        written; 3 everything converted but a module's product error is above --max-error; 64 bad \
        command-line usage.
        """

    static let export = """
        Exit codes: 0 every input exported; 1 at least one input failed (one line on stderr each); \
        64 bad command-line usage.
        """

    static let inspect = """
        Exit codes: 0 the file is readable and intact; 1 it is unreadable, corrupted or not an \
        adapter; 64 bad command-line usage.
        """
}

/// `lordba-convert --help`: `convert` is the default subcommand, so the root help shows its
/// usage and options (taken from `convert --help`, so the two never disagree) and its exit codes,
/// then the other subcommands.
enum RootHelp {
    static let usage = """
        lordba-convert IN OUT.lba [<options>]
        lordba-convert IN... --out-dir DIR [<options>]
        lordba-convert inspect PATH
        lordba-convert export IN.lba --to peft|mlx|kohya|gguf OUT [<options>]
        """

    /// The options section of `lordba-convert convert --help`, then the exit codes.
    static var discussion: String {
        let lines = Convert.helpMessage(columns: 78).split(separator: "\n", omittingEmptySubsequences: false)
        // `-h, --help` and `--version` are listed again by the root command itself.
        // Every option section (the groups, then OPTIONS:) follows the ARGUMENTS section.
        let afterArguments = lines.drop { $0 != "ARGUMENTS:" }.dropFirst()
        let options = afterArguments.drop { !$0.hasSuffix(":") || $0.hasPrefix(" ") }
            .filter { !$0.contains("-h, --help") && !$0.contains("--version") && !$0.contains("Show the version") }
            .joined(separator: "\n")
        return """
            Options of convert, the default subcommand (lordba-convert convert --help):
            \(options)
            \(ExitCodes.convert)
            """
    }
}
