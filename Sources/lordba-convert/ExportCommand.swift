import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

extension ExportTarget: ExpressibleByArgument {}
extension ExportDType: ExpressibleByArgument {}

/// `lordba-convert export`: a `.lba` back to PEFT, MLX-LM, kohya or llama.cpp GGUF.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a .lba back to a LoRA adapter: IN.lba --to peft|mlx|kohya|gguf OUT (or IN... --out-dir DIR).",
        discussion: ExitCodes.export)

    @Argument(help: "The .lba files, then the output (a folder for peft and mlx, a file for kohya and gguf) when exporting one without --out-dir.",
              completion: .file())
    var paths: [String]

    @Option(name: .long, help: "Target format: \(ExportTarget.allValueStrings.joined(separator: ", ")).")
    var to: ExportTarget

    @Option(name: .long, help: "Folder for the outputs of a batch (named after each input).", completion: .directory)
    var outDir: String?

    @Option(name: .long, help: "Storage type of the exported factors: f32, f16 or bf16.")
    var dtype: ExportDType = .f16

    @Option(name: .long, help: "The base model's config.json (gguf: head counts for the q/k row order, and the architecture; mlx: num_hidden_layers for num_layers).",
            completion: .file(extensions: ["json"]))
    var baseConfig: String?

    @Option(name: .long, help: "gguf: general.architecture when --base-config does not give it (e.g. llama).")
    var arch: String?

    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        try UnknownFlag.check(Self.self)
        if paths.isEmpty { throw ValidationError("Give a .lba to export.") }
        if outDir == nil && paths.count != 2 {
            throw ValidationError("Give IN.lba OUT, or several inputs with --out-dir DIR.")
        }
        if outDir == nil && paths[1] == ConversionRun.standardOutput {
            throw ValidationError("The export cannot go to standard output (-); give a \(to.writesFolder ? "folder" : "file") name.")
        }
    }

    func run() throws {
        var jobs: [(input: String, output: String)]
        if let outDir {
            jobs = paths.map { ($0, Exporter.output(for: $0, in: outDir, target: to)) }
            let outputs = jobs.map(\.output)
            if let clash = outputs.first(where: { o in outputs.filter { $0 == o }.count > 1 }) {
                throw ValidationError("Two inputs would both be written to \(clash); export them separately.")
            }
            try makeDirectory(outDir)
        } else {
            jobs = [(paths[0], paths[1])]
        }
        var options = ExportOptions(target: to)
        options.dtype = dtype
        options.baseConfigPath = baseConfig
        options.architecture = arch
        options.overwrite = output.force
        if baseConfig == nil, to == .gguf || to == .mlx { options.searchHubCache = true }
        let exporter = Exporter(options: options)
        var failures = 0
        for job in jobs {
            do {
                let report = try exporter.export(input: job.input, output: job.output)
                if !output.quiet {
                    print("ok \(job.input) → \(job.output): \(to.rawValue), \(report.modules) modules, \(report.carried) carried tensors, \(dtype.rawValue), \(report.bytes) bytes, ΔW within \(ExportPrecision.text(report.largestChange)) of the .lba")
                    for note in report.notes { print("   note: \(note)") }
                }
            } catch {
                failures += 1
                printError("error: \(error.description)")
            }
        }
        if failures > 0 {
            if jobs.count > 1 { printError("\(failures) of \(jobs.count) inputs failed") }
            throw ExitCode(ConversionRun.ExitStatus.failed.rawValue)
        }
    }

    private func makeDirectory(_ path: String) throws {
        do throws(FileSystem.FolderProblem) { try FileSystem.ensureFolder(path) } catch {
            throw ValidationError(error.message(option: "--out-dir", path: path))
        }
    }
}
