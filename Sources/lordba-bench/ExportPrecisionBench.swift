import ArgumentParser
import LoRDBA

/// `lordba-bench export-precision IN.lba`: how much storing the exported factors in f32, f16 and
/// bf16 changes each module's ΔW, with the exporter's balancing and without it, side by side
/// from one run (computed from small Gram matrices, nothing `out × in` formed).
struct ExportPrecisionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-precision",
        abstract: "Relative ΔW change per module when a .lba's factors are exported in f32, f16 and bf16 (balanced, as exported, and unbalanced); exit 1 when a balanced module is above the export bound.")

    @Argument(help: "A .lba file (e.g. a conversion of `lordba-bench generate --shape llama-7b`).", completion: .file(extensions: ["lba"]))
    var input: String

    func run() throws {
        let file: LBAFile
        do { file = try LBAFile(path: input) } catch {
            print("error: \(error)")
            throw ExitCode.failure
        }
        let modules = file.adapter.modules.map { DequantizedModule($0) }
        let widest = modules.map { Swift.max($0.inFeatures, $0.outFeatures) }.max() ?? 0
        print("\(input): \(modules.count) modules, widest \(widest)")
        print("dtype".padding(6) + "balanced median".leftPadding(16) + "balanced worst".leftPadding(16)
              + "bound".leftPadding(9) + "unbalanced median".leftPadding(19) + "unbalanced worst".leftPadding(18))
        var above = false
        for dtype in ExportDType.allCases {
            let balanced = modules.map { ExportPrecision.relativeError($0.balanced(), dtype: dtype) }.sorted()
            let plain = modules.map { ExportPrecision.relativeError($0, dtype: dtype) }.sorted()
            let bound = ExportPrecision.bound(dtype)
            above = above || (balanced.last ?? 0) > bound
            func median(_ v: [Double]) -> String { v.isEmpty ? "-" : ExportPrecision.text(v[v.count / 2]) }
            func worst(_ v: [Double]) -> String { ExportPrecision.text(v.last ?? 0) }
            print(dtype.rawValue.padding(6) + median(balanced).leftPadding(16) + worst(balanced).leftPadding(16)
                  + ExportPrecision.text(bound).leftPadding(9) + median(plain).leftPadding(19) + worst(plain).leftPadding(18))
        }
        if above { throw ExitCode.failure }
    }
}
