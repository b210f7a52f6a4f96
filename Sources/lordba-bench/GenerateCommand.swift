import ArgumentParser
import LoRDBA

/// The shapes `lordba-bench generate` writes.
enum SyntheticShape: String, CaseIterable, ExpressibleByArgument {
    /// 32 layers × q, k, v, o, gate, up, down (224 modules), 4096 / 11008 wide.
    case llama7b = "llama-7b"
    /// 12 layers × query, key, value, attention.output.dense, intermediate.dense, output.dense (72 modules).
    case bertBase = "bert-base"
}

/// `lordba-bench generate`: writes a seeded, PEFT-layout adapter of a model's shape, for
/// benchmarks and for checking reports on inputs no sample provides.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a seeded PEFT adapter of a model's shape (adapter_model.safetensors, fp16, and adapter_config.json).")

    @Argument(help: "Folder to write (created if missing).", completion: .directory)
    var output: String

    @Option(help: "Model shape.")
    var shape: SyntheticShape = .llama7b

    @Option(help: "LoRA rank r.")
    var rank = 16

    @Option(help: "Layers (default: the model's).")
    var layers: Int?

    @Flag(help: "bert-base only: a rank_pattern that gives the module types ranks from r/4 to 2r.")
    var mixedRanks = false

    func validate() throws {
        if rank < 1 { throw ValidationError("--rank must be at least 1.") }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1.") }
        if mixedRanks && shape != .bertBase { throw ValidationError("--mixed-ranks needs --shape bert-base.") }
    }

    func run() throws {
        let adapter = switch shape {
        case .llama7b: SyntheticAdapter.llama7B(rank: rank, layers: layers ?? 32)
        case .bertBase: SyntheticAdapter.bertBase(rank: rank, layers: layers ?? 12, mixedRanks: mixedRanks)
        }
        try adapter.write(to: output)
        let ranks = Set(adapter.modules.indices.map(adapter.rank(of:))).sorted()
        print("wrote \(output): \(adapter.modules.count) modules, rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", "))")
    }
}
