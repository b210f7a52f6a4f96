import Foundation
import Testing
@testable import LoRDBA

/// Command-line conventions: `--version` everywhere, choices in help and in
/// completion scripts, the convert options and exit codes in the root help, and the flags a
/// script may already use still parsing.
@Suite struct CLIConventionsTests {
    let convert = Tool(name: "lordba-convert")

    @Test func everyToolPrintsTheOneVersionConstant() throws {
        for (tool, arguments) in [("lordba-convert", ["--version"]), ("lordba-convert", ["convert", "--version"]),
                                  ("lordba-convert", ["export", "--version"]), ("lordba-validate", ["--version"]),
                                  ("lordba-bench", ["--version"]), ("lordba-bench", ["convert", "--version"])] {
            let result = try Tool(name: tool).run(arguments)
            #expect(result.status == 0, "\(tool) \(arguments): \(result.stderr)")
            #expect(result.stdout == ToolVersion.current + "\n", "\(tool) \(arguments)")
        }
    }

    @Test func theVersionIsInEveryReportAndFile() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let lba = dir.path + "/m.lba", json = dir.path + "/r.json"
        let converted = try convert.run(["samples/minilm-cls-r8", lba, "--plain", "-q", "--report-json", json])
        #expect(converted.status == 0, "\(converted.stderr)")
        let report = try JSONParser.parse(String(contentsOfFile: json, encoding: .utf8))
        #expect(report["tool_version"] == .string(ToolVersion.current))
        #expect(report["inputs"]?.arrayValue?.first?["tool_version"] == .string(ToolVersion.current))
        #expect(try LBAFile(path: lba).adapter.metadata[ConversionMetadata.Key.toolVersion] == ToolVersion.current)
        let validated = try Tool(name: "lordba-validate").run([lba, "--json", "-", "--no-timing", "--tokens", "4"])
        #expect(validated.status == 0, "\(validated.stderr)")
        #expect(try JSONParser.parse(validated.stdout)["tool_version"] == .string(ToolVersion.current))
    }

    @Test func rootHelpShowsConvertUsageOptionsAndExitCodes() throws {
        let help = try convert.run(["--help"])
        #expect(help.status == 0)
        for text in ["lordba-convert IN OUT.lba [<options>]", "lordba-convert IN... --out-dir DIR", "--report-json <report-json>",
                     "--factorization <factorization>", "(values: as-is, balanced, rotated, auto)", "--version",
                     "Exit codes: 0 everything converted", "3 everything converted but", "64 bad",
                     "inspect", "export"] {
            #expect(help.stdout.contains(text), "root --help lacks \(text)")
        }
        // The options come from `convert --help`, so every one of its option lines is there.
        let convertHelp = try convert.run(["convert", "--help"]).stdout
        let flags = convertHelp.split(separator: "\n").compactMap { line -> String? in
            let t = line.drop { $0 == " " }
            return t.hasPrefix("--") ? String(t.prefix { $0 != " " }) : nil
        }
        #expect(flags.count >= 25)
        for flag in flags { #expect(help.stdout.contains(flag), "root --help lacks \(flag)") }
    }

    @Test func helpListsTheChoicesOfEveryChoiceOption() throws {
        let convertHelp = try convert.run(["convert", "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
            .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for choices in ["(values: as-is, balanced, rotated, auto)", "(values: full, compact)",
                        "(values: f16, bf16, f32, e4m3; default: e4m3)", "(values: relative, absolute)"] {
            #expect(convertHelp.contains(choices), "convert --help lacks \(choices)")
        }
        #expect(convertHelp.contains("Exit codes: 0 everything converted"))
        let exportHelp = try convert.run(["export", "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
            .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        #expect(exportHelp.contains("(values: peft, mlx, kohya, gguf)") && exportHelp.contains("(values: f32, f16, bf16; default: f16)"))
        #expect(exportHelp.contains("Exit codes:"))
        #expect(try convert.run(["inspect", "--help"]).stdout.contains("Exit codes:"))
        let bench = try Tool(name: "lordba-bench").run(["generate", "--help"]).stdout
        #expect(bench.contains("(values: llama-7b, bert-base"))
    }

    @Test func completionScriptsOfferChoicesAndFiles() throws {
        let bash = try convert.run(["--generate-completion-script", "bash"])
        #expect(bash.status == 0)
        func completion(of option: String) -> String {
            guard let start = bash.stdout.range(of: "'\(option)')\n") else { return "" }
            return String(bash.stdout[start.upperBound...].prefix { $0 != ";" })
        }
        #expect(completion(of: "--factorization").contains("'as-is'$'\\n''balanced'$'\\n''rotated'$'\\n''auto'"))
        #expect(completion(of: "--scale-dtype").contains("'e4m3'"))
        #expect(completion(of: "--to").contains("'gguf'"))
        #expect(completion(of: "--config").contains("-fX '!*.@(json)'"))
        #expect(completion(of: "--calibration").contains("safetensors"))
        #expect(completion(of: "--report-html").contains("html"))
        #expect(completion(of: "--out-dir").contains("-d"))
        #expect(completion(of: "--binary-rank").contains("'2x'"))
        let zsh = try convert.run(["--generate-completion-script", "zsh"]).stdout
        #expect(zsh.contains("'as-is' 'balanced' 'rotated' 'auto'") && zsh.contains("_files"))
    }

    /// Every flag spelling accepted before this change still parses: these runs get past the
    /// parser (exit 1 for the missing input, never 64 for usage).
    @Test func existingFlagSpellingsStillParse() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let missing = dir.path + "/missing"
        let groups: [[String]] = [
            ["--config", missing + ".json", "--adapter-name", "a", "--force", "--drop-extra", "--jobs", "1", "--scale-dtype", "f16",
             "--factorization", "balanced", "--binary-rank", "2x", "--scales", "compact", "--refit-sweeps", "2", "--bcd-rounds", "1",
             "--seed", "3", "--calibration", missing + ".safetensors", "--report", "--compare", "-q"],
            ["--plain", "--quiet", "--max-error", "0.5", "--target-error", "0"].dropLast(2) + ["--report-json", dir.path + "/r.json", "--report-html", dir.path + "/r.html"],
            ["--size-ratio", "6", "--budget-objective", "absolute"],
            ["--budget", "100000", "--budget-objective", "relative", "--target-error", "0.5"].dropLast(2) + ["--factorization", "as-is"],
            ["--scale-dtype", "bf16", "--factorization", "rotated", "--scales", "full", "--binary-rank", "24", "--target-error", "0.3"],
            ["--scale-dtype", "f32", "--factorization", "auto"], ["--scale-dtype", "e4m3"],
        ]
        for group in groups {
            let result = try convert.run([missing, dir.path + "/o.lba"] + group)
            #expect(result.status == 1, "\(group): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: "), "\(group): \(result.stderr)")
        }
        let batch = try convert.run([missing, missing + "2", "--out-dir", dir.path + "/out", "--jobs", "2"])
        #expect(batch.status == 1)
        let export = try convert.run(["export", missing + ".lba", "--to", "mlx", dir.path + "/e", "--dtype", "bf16", "--force", "-q",
                                      "--base-config", missing + ".json", "--arch", "llama"])
        #expect(export.status == 1, "\(export.stderr)")
        for to in ["peft", "kohya", "gguf"] {
            #expect(try convert.run(["export", missing + ".lba", "--to", to, dir.path + "/e2", "--dtype", "f32"]).status == 1)
        }
        #expect(try convert.run(["export", missing + ".lba", missing + "2.lba", "--to", "peft", "--out-dir", dir.path + "/ex",
                                 "--dtype", "f16", "--quiet"]).status == 1)
        #expect(try convert.run(["inspect", missing + ".lba"]).status == 1)
        let validate = Tool(name: "lordba-validate")
        for timing in [["--timing", "--timing-samples", "2"], ["--no-timing"]] {
            let result = try validate.run([missing + ".lba", "--reference", missing, "--tokens", "8", "--seed", "2", "--json",
                                           dir.path + "/v.json", "--max-error", "0.9", "--threads", "1"] + timing)
            #expect(result.status == 1, "\(timing): \(result.stderr)")
        }
        // A wrong choice is still a usage error that names the choices.
        let wrong = try convert.run([missing, dir.path + "/o.lba", "--factorization", "svd"])
        #expect(wrong.status == 64 && wrong.stderr.contains("as-is"))
    }

    /// A removed flag is a usage error that names what replaced it.
    @Test func removedRefineStepsNamesLordbaRefine() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let result = try Tool(name: "lordba-convert").run([ReadingFixtures.sample("minilm-cls-r8"), dir.path + "/o.lba", "--refine-steps", "4"])
        #expect(result.status == 64 && result.stderr.contains("lordba-refine"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/o.lba"))
    }
}
