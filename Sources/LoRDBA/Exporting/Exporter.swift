#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files of one export, before they are written: names (empty for a single-file target)
/// and bytes, plus notes for the user.
struct ExportFiles {
    var files: [(name: String, bytes: [UInt8])]
    var notes: [String]
    var carried: Int
    /// The largest relative ΔW change the cast to the export dtype makes in any module.
    var largestChange = 0.0
}

/// Turns a `.lba` back into a LoRA adapter a training or inference library loads:
/// PEFT, MLX-LM, kohya or a llama.cpp GGUF (see ``ExportTarget``).
///
/// The exported factors are the `.lba`'s own dequantized factors (``DequantizedModule``),
/// balanced per rank channel by powers of two so that they sit in the middle of the target
/// type's range; their product is the stored ΔW up to one rounding per entry, and a module whose
/// ΔW would change by more than ``ExportPrecision/bound(_:)`` (a value out of the type's range)
/// is refused.
/// Outputs are written atomically: a folder target goes to a temporary folder renamed into
/// place, a file target through ``AtomicFile``; nothing is replaced without `overwrite`.
public struct Exporter: Sendable {
    public var options: ExportOptions

    public init(options: ExportOptions) {
        self.options = options
    }

    /// Exports the `.lba` at `input` to `output` (a folder for PEFT and MLX, else a file).
    public func export(input: String, output: String) throws(ExportError) -> ExportReport {
        if FileIdentity.same(input, output) { throw .outputIsInput(output) }
        if !options.overwrite, FileSystem.exists(output) { throw .outputExists(output) }
        let file: LBAFile
        do { file = try LBAFile(path: input) } catch { throw .input(error) }
        let produced = try files(for: file, path: input)
        try write(produced, to: output)
        let names = produced.files.map { $0.name.isEmpty ? output : $0.name }
        return ExportReport(input: input, output: output, files: names, modules: file.adapter.modules.count,
                            carried: produced.carried, bytes: produced.files.reduce(0) { $0 + $1.bytes.count },
                            notes: produced.notes, largestChange: produced.largestChange)
    }

    /// The exported files for an already-read `.lba` (no I/O).
    func files(for file: LBAFile, path: String) throws(ExportError) -> ExportFiles {
        try files(for: file.adapter, doraMagnitudes: file.doraMagnitudes, path: path)
    }

    /// The exported files for an adapter's modules, balanced and checked against the dtype's bound.
    func files(for adapter: BinaryAdapter, doraMagnitudes: [String: String] = [:], path: String) throws(ExportError) -> ExportFiles {
        if options.target == .mlx { try MLXExport.checkPadding(adapter.modules, path: path) }
        let modules = adapter.modules.map { DequantizedModule($0, doraMagnitude: doraMagnitudes[$0.name]).balanced() }
        var largestChange = 0.0
        for module in modules {
            let change = ExportPrecision.relativeError(module, dtype: options.dtype)
            guard change <= ExportPrecision.bound(options.dtype) else {
                throw .precision(path: path, module: module.name, dtype: options.dtype, change: change)
            }
            largestChange = Swift.max(largestChange, change)
        }
        var options = self.options
        var found: String?
        if options.baseConfigPath == nil, options.searchHubCache, let model = Self.baseModel(adapter),
           let config = HubCache.baseConfig(for: model) {
            options.baseConfigPath = config
            found = "base model config \(config) (base_model_name_or_path \(model), from the local Hub cache)"
        }
        var produced = try Self.targetFiles(adapter, modules: modules, options: options, path: path)
        produced.largestChange = largestChange
        if let found { produced.notes.insert(found, at: 0) }
        return produced
    }

    /// The `base_model_name_or_path` of the source adapter's config, if recorded.
    static func baseModel(_ adapter: BinaryAdapter) -> String? {
        ExportSupport.sourceConfig(adapter)?.first { $0.0 == "base_model_name_or_path" }?.1.stringValue
    }

    private static func targetFiles(_ adapter: BinaryAdapter, modules: [DequantizedModule], options: ExportOptions,
                                     path: String) throws(ExportError) -> ExportFiles {
        switch options.target {
        case .peft: return try PEFTExport.files(adapter, modules: modules, dtype: options.dtype, path: path)
        case .mlx: return try MLXExport.files(adapter, modules: modules, dtype: options.dtype,
                                                baseConfigPath: options.baseConfigPath, path: path)
        case .kohya: return try KohyaExport.file(adapter, modules: modules, dtype: options.dtype, path: path)
        case .gguf: return try GGUFExport.file(adapter, modules: modules, options: options, path: path)
        }
    }

    /// The output path of `input` in batch mode: `DIR/<stem>` plus the target's extension.
    public static func output(for input: String, in directory: String, target: ExportTarget) -> String {
        var name = input.split(separator: "/").last.map(String.init) ?? input
        if name.hasSuffix(".lba") { name.removeLast(4) }
        return FileSystem.join(directory, name + target.fileExtension)
    }

    private func write(_ produced: ExportFiles, to output: String) throws(ExportError) {
        if !options.target.writesFolder {
            do { try AtomicFile.write(produced.files[0].bytes, to: output, overwrite: options.overwrite) } catch {
                if error.errno == EEXIST { throw .outputExists(output) }
                throw .io(error)
            }
            return
        }
        if let info = FileSystem.status(output, followingLinks: false) {
            guard FileKind(mode: info.st_mode) == .directory else {
                throw .io(FileError(path: output, operation: .exportInto, errno: ENOTDIR))
            }
            // --force into an existing folder: each file is replaced atomically.
            for (name, bytes) in produced.files {
                do { try AtomicFile.write(bytes, to: FileSystem.join(output, name), overwrite: true) } catch { throw .io(error) }
            }
            return
        }
        let temporary = output + ".lordba-tmp-\(getpid())"
        guard mkdir(temporary, 0o755) == 0 else { throw .io(FileError(path: temporary, operation: .mkdir, errno: errno)) }
        var written: [String] = []
        func cleanUp() {
            for path in written { unlink(path) }
            rmdir(temporary)
        }
        for (name, bytes) in produced.files {
            let path = FileSystem.join(temporary, name)
            do { try AtomicFile.write(bytes, to: path, overwrite: false) } catch {
                cleanUp()
                throw .io(error)
            }
            written.append(path)
        }
        guard rename(temporary, output) == 0 else {
            let code = errno
            cleanUp()
            throw code == EEXIST || code == ENOTEMPTY ? .outputExists(output) : .io(FileError(path: output, operation: .rename, errno: code))
        }
    }
}
