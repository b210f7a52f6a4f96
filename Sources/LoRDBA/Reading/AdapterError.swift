/// Why an adapter could not be opened or one of its modules could not be loaded.
///
/// Every case names the file it is about and, where one is involved, the tensor or config
/// field; `description` is one line, `"<file>: <tensor or field>: <problem>"`.
public enum AdapterError: Error, Equatable, CustomStringConvertible {
    /// The weights file is not a valid safetensors file (the wrapped error names file and tensor).
    case safetensors(SafeTensorsError)
    /// The input path does not exist.
    case missingInput(path: String)
    /// The input directory holds no `.safetensors` file.
    case noWeightsFile(directory: String)
    /// The input directory holds several `.safetensors` files and none has a standard name.
    case ambiguousWeightsFile(directory: String, candidates: [String])
    /// The config file cannot be read, is not valid JSON or is not a JSON object.
    case unreadableConfig(path: String, reason: String)
    /// A config field has the wrong type or an unusable value.
    case invalidConfig(path: String, field: String, problem: String)
    /// A config field the layout needs is absent; `path` is the config, or the weights file when
    /// no config was found.
    case missingConfigField(path: String, field: String, problem: String)
    /// The file holds no tensor named like a LoRA factor of any supported layout.
    case noLoRATensors(path: String, tensorCount: Int)
    /// The file mixes the naming of several layouts; `tensor` is one of the minority layout.
    case mixedLayouts(path: String, tensor: String, layouts: [AdapterLayout])
    /// A LoRA factor whose partner (`missing`) is not in the file.
    case unpaired(path: String, tensor: String, missing: String)
    /// A LoRA factor stored in a dtype that cannot be converted.
    case unsupportedDType(path: String, tensor: String, dtype: TensorDType)
    /// A LoRA factor with the wrong number of dimensions or an unusable shape.
    case wrongShape(path: String, tensor: String, shape: [Int], expected: String)
    /// The ranks of A and B disagree.
    case rankMismatch(path: String, tensor: String, rank: Int, other: String, otherRank: Int)
    /// A factor of rank 0.
    case zeroRank(path: String, tensor: String, shape: [Int])
    /// The config's rank for a module (`r` or a `rank_pattern` entry, named in `source`)
    /// disagrees with the rank of its tensors.
    case configRankMismatch(path: String, tensor: String, configRank: Int, tensorRank: Int, source: String)
    /// A kohya `alpha` tensor that is not a single finite float.
    case invalidAlpha(path: String, tensor: String, problem: String)
    /// A LoRA factor holding NaN or an infinity; `position` indexes the stored shape.
    case nonFinite(path: String, tensor: String, position: [Int], value: Float)
    /// An F64 LoRA factor holding a finite value too large for `Float`.
    case outOfFloatRange(path: String, tensor: String, position: [Int], value: Double)
    /// Two tensors of the file claim the same LoRA slot.
    case conflictingTensors(path: String, tensor: String, other: String)
    /// A pickled PyTorch checkpoint (`.bin`, `.pt`, `.ckpt`, …); it is never loaded, since
    /// unpickling can run arbitrary code. `evidence` says how it was recognised.
    case pickledCheckpoint(path: String, evidence: String)
    /// The file's keys show a non-LoRA adapter algorithm (LoHa, LoKr, IA3, GLoRA, OFT, …).
    case notLoRA(path: String, tensor: String, algorithm: String)
    /// The file holds the factors of several named adapters and none was chosen.
    case ambiguousAdapterName(path: String, names: [String])
    /// The adapter name asked for is not among the file's adapter names.
    case unknownAdapterName(path: String, name: String, names: [String])

    /// The file the error is about (weights, config or input directory).
    public var file: String {
        switch self {
        case .safetensors(let e): e.path
        case .missingInput(let p), .noWeightsFile(let p), .ambiguousWeightsFile(let p, _),
             .unreadableConfig(let p, _), .invalidConfig(let p, _, _), .missingConfigField(let p, _, _),
             .noLoRATensors(let p, _), .mixedLayouts(let p, _, _), .unpaired(let p, _, _),
             .unsupportedDType(let p, _, _), .wrongShape(let p, _, _, _), .rankMismatch(let p, _, _, _, _),
             .zeroRank(let p, _, _), .configRankMismatch(let p, _, _, _, _), .invalidAlpha(let p, _, _),
             .nonFinite(let p, _, _, _), .outOfFloatRange(let p, _, _, _), .conflictingTensors(let p, _, _),
             .pickledCheckpoint(let p, _), .notLoRA(let p, _, _), .ambiguousAdapterName(let p, _),
             .unknownAdapterName(let p, _, _):
            p
        }
    }

    /// The tensor or config field the error is about, if any.
    public var subject: String? {
        switch self {
        case .safetensors(let e): e.tensor
        case .missingInput, .noWeightsFile, .ambiguousWeightsFile, .unreadableConfig, .noLoRATensors,
             .pickledCheckpoint, .ambiguousAdapterName, .unknownAdapterName: nil
        case .invalidConfig(_, let field, _), .missingConfigField(_, let field, _): field
        case .mixedLayouts(_, let t, _), .unpaired(_, let t, _), .unsupportedDType(_, let t, _),
             .wrongShape(_, let t, _, _), .rankMismatch(_, let t, _, _, _), .zeroRank(_, let t, _),
             .configRankMismatch(_, let t, _, _, _), .invalidAlpha(_, let t, _), .nonFinite(_, let t, _, _),
             .outOfFloatRange(_, let t, _, _), .conflictingTensors(_, let t, _), .notLoRA(_, let t, _):
            t
        }
    }

    /// What is wrong, without the file and subject.
    public var problem: String {
        switch self {
        case .safetensors(let e):
            return e.problem
        case .missingInput:
            return "no such file or directory"
        case .noWeightsFile:
            return "directory holds no .safetensors file (expected \(PEFTLayout.weightsName) or \(MLXLayout.weightsName))"
        case .ambiguousWeightsFile(_, let candidates):
            return "directory holds \(candidates.count) .safetensors files (\(candidates.joined(separator: ", "))) and none is \(PEFTLayout.weightsName) or \(MLXLayout.weightsName); name the file"
        case .unreadableConfig(_, let reason):
            return reason
        case .invalidConfig(_, _, let problem), .missingConfigField(_, _, let problem):
            return problem
        case .noLoRATensors(_, let count):
            return "none of the \(count) tensors is a LoRA factor (expected \(LayoutReader.expectedFactors))"
        case .mixedLayouts(_, _, let layouts):
            return "the file mixes LoRA layouts (\(layouts.map(\.rawValue).joined(separator: ", "))); this tensor belongs to a different layout than the rest"
        case .unpaired(_, _, let missing):
            return "LoRA factor has no partner: \"\(missing)\" is not in the file"
        case .unsupportedDType(_, _, let dtype):
            return "LoRA factor is \(dtype.rawValue); only F16, BF16, F32 and F64 factors can be converted"
        case .wrongShape(_, _, let shape, let expected):
            return "shape \(ReadingText.shape(shape)) has the wrong form; expected \(expected)"
        case .rankMismatch(_, _, let rank, let other, let otherRank):
            return "rank \(rank) disagrees with rank \(otherRank) of \"\(other)\""
        case .zeroRank(_, _, let shape):
            return "rank is 0 (shape \(ReadingText.shape(shape)))"
        case .configRankMismatch(_, _, let configRank, let tensorRank, let source):
            return "tensor rank \(tensorRank) disagrees with \(source) = \(configRank) in the config"
        case .invalidAlpha(_, _, let problem):
            return problem
        case .nonFinite(_, _, let position, let value):
            let what = value.isNaN ? "NaN" : (value > 0 ? "+infinity" : "-infinity")
            return "element \(ReadingText.shape(position)) is \(what); LoRA factors must be finite"
        case .outOfFloatRange(_, _, let position, let value):
            return "element \(ReadingText.shape(position)) is \(value), beyond the range of Float"
        case .conflictingTensors(_, _, let other):
            return "tensor fills the same LoRA slot as \"\(other)\""
        case .pickledCheckpoint(let path, let evidence):
            return "\(evidence): a pickled PyTorch checkpoint, which is not loaded because unpickling can run arbitrary code; "
                + "convert it to safetensors once, where you trust it, with: " + PickleCheck.conversionCommand(for: path)
        case .notLoRA(_, _, let algorithm):
            return "\(algorithm) tensor: this adapter is \(algorithm), not LoRA; only adapters made of LoRA factor pairs (A/B or down/up) can be converted"
        case .ambiguousAdapterName(_, let names):
            return "the file holds \(names.count) adapters (\(names.joined(separator: ", "))); pick one with --adapter-name NAME"
        case .unknownAdapterName(_, let name, let names):
            return "no adapter named \"\(name)\"; the file holds \(names.isEmpty ? "no named adapter" : names.joined(separator: ", "))"
        }
    }

    public var description: String {
        if case .pickledCheckpoint = self {
            // Not shortened: the conversion command must stay whole to be copied.
            return ReadingText.oneLine(file) + ": " + MessageText.escaped(problem)
        }
        return ReadingText.message(file: file, subject: subject, problem: problem)
    }
}
