import ArgumentParser
import LoRDBA

/// `lordba-convert inspect PATH`: what a `.lba` or safetensors adapter holds, integrity checked.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a .lba or safetensors adapter holds, and check its integrity.",
        discussion: ExitCodes.inspect)

    @Argument(help: "A .lba file, a safetensors file or an adapter folder.", completion: .file())
    var path: String

    @Flag(name: .long, help: "Print the description as one JSON document (kind, file, bytes, metadata, modules, carried tensors).")
    var json = false

    func run() throws {
        do {
            print(json ? try Inspector.json(path).serialized(indent: 2) : try Inspector.describe(path))
        } catch {
            printError("error: \(error)")
            throw ExitCode(ConversionRun.ExitStatus.failed.rawValue)
        }
    }
}
