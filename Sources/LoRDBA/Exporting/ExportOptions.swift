/// The library format an export writes.
public enum ExportTarget: String, Sendable, CaseIterable {
    /// Hugging Face PEFT: `adapter_model.safetensors` + `adapter_config.json` in a folder.
    case peft
    /// MLX-LM: `adapters.safetensors` + `adapter_config.json` in a folder.
    case mlx
    /// kohya-ss: one `.safetensors` with `lora_down` / `lora_up` / `alpha` keys.
    case kohya
    /// llama.cpp: one GGUF v3 LoRA adapter file.
    case gguf

    /// Whether the output is a folder (else one file).
    public var writesFolder: Bool { self == .peft || self == .mlx }

    /// The file name extension of a single-file output (batch mode names outputs after the input).
    public var fileExtension: String {
        switch self {
        case .peft, .mlx: ""
        case .kohya: ".safetensors"
        case .gguf: ".gguf"
        }
    }
}

/// The float type the exported factors are stored in.
public enum ExportDType: String, Sendable, CaseIterable {
    case f32, f16, bf16

    /// The safetensors dtype of the same name.
    public var tensorDType: TensorDType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

/// Options of one export; the defaults are what `lordba-convert export` does with no flags.
public struct ExportOptions: Sendable {
    /// Target library format.
    public var target: ExportTarget
    /// Storage type of the exported factors (f16 by default: what the libraries load natively).
    public var dtype: ExportDType = .f16
    /// The base model's `config.json` (head counts for llama.cpp's q/k row order; architecture).
    public var baseConfigPath: String?
    /// GGUF `general.architecture` when neither the base config nor the source config tells it.
    public var architecture: String?
    /// Replace existing outputs.
    public var overwrite = false
    /// Without `baseConfigPath`, look for the base model's `config.json` in the local Hub cache
    /// under the `base_model_name_or_path` the `.lba` recorded (``HubCache``).
    public var searchHubCache = false

    public init(target: ExportTarget) {
        self.target = target
    }
}

/// Why an export failed; the description is one line naming the file (and module) and the problem.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    /// The `.lba` could not be read.
    case input(LBAError)
    /// The output exists and `--force` was not given.
    case outputExists(String)
    /// The output would replace the input.
    case outputIsInput(String)
    /// A module cannot be expressed in the target format.
    case unsupported(path: String, module: String, problem: String)
    /// An exported value does not fit the chosen dtype (e.g. above 65504 in f16).
    case notRepresentable(path: String, module: String, dtype: String)
    /// Cast to `dtype`, the module's factors change its ΔW by more than the export's bound
    /// (``ExportPrecision``): a value overflows or underflows the type even after balancing.
    case precision(path: String, module: String, dtype: ExportDType, change: Double)
    /// A stored scale is NaN or infinite, so the module's factors are not numbers.
    case nonFinite(path: String, module: String, value: Float)
    /// The base model config is missing, unreadable or lacks a field.
    case baseConfig(path: String, problem: String)
    /// The output could not be written.
    case io(FileError)

    public var description: String {
        switch self {
        case .input(let e): e.description
        case .outputExists(let path): "\(path): output exists (use --force to replace it)"
        case .outputIsInput(let path): "\(path): output would replace the input"
        case .unsupported(let path, let module, let problem): "\(path): module \(module): \(problem)"
        case .notRepresentable(let path, let module, let dtype):
            "\(path): module \(module): a factor value does not fit \(dtype); export with --dtype f32"
        case .precision(let path, let module, let dtype, let change):
            change.isInfinite
                ? "\(path): module \(module): a factor value overflows \(dtype.rawValue) even after balancing; export with --dtype f32"
                : "\(path): module \(module): \(dtype.rawValue) cannot hold its factors (ΔW would change by \(ExportPrecision.text(change)), above \(ExportPrecision.text(ExportPrecision.bound(dtype)))); export with --dtype f32"
        case .nonFinite(let path, let module, let value): "\(path): module \(module): a stored scale makes a factor \(value); nothing exported"
        case .baseConfig(let path, let problem): "\(path): \(problem)"
        case .io(let e): e.description
        }
    }
}

/// What an export wrote.
public struct ExportReport: Sendable {
    /// The `.lba` read.
    public var input: String
    /// The folder or file written.
    public var output: String
    /// The files written (inside `output` for folder targets).
    public var files: [String]
    /// Modules exported.
    public var modules: Int
    /// Carried tensors written back.
    public var carried: Int
    /// Bytes written in total.
    public var bytes: Int
    /// Things the user should know (skipped tensors, padding, …).
    public var notes: [String]
    /// The largest relative change of a module's ΔW from storing its factors in the export dtype.
    public var largestChange: Double
}
