import ArgumentParser
import LoRDBA

/// `lordba-convert`: the subcommands, one file each (`convert` is the default).
struct LordbaConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lordba-convert",
        abstract: "Convert LoRA adapters (PEFT, diffusers, MLX-LM, kohya) into compact LoRDBA .lba files, and back (export).",
        usage: RootHelp.usage,
        discussion: RootHelp.discussion,
        version: ToolVersion.current,
        subcommands: [Convert.self, Inspect.self, Export.self, MergeReports.self],
        defaultSubcommand: Convert.self)
}

LordbaConvert.main()
