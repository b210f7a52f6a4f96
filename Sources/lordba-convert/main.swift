import ArgumentParser

/// `lordba-convert`: the subcommands, one file each (`convert` is the default).
struct LordbaConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lordba-convert",
        abstract: "Convert LoRA adapters (PEFT, MLX-LM, kohya) into compact LoRDBA .lba files.",
        subcommands: [Convert.self, Inspect.self],
        defaultSubcommand: Convert.self)
}

LordbaConvert.main()
