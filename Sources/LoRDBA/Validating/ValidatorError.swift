/// Why a validation could not run; every description is one line naming the file and the problem.
public enum ValidatorError: Error, CustomStringConvertible, Equatable {
    /// The `.lba` is unreadable or invalid (nothing was computed).
    case lba(LBAError)
    /// The reference adapter is unreadable or invalid.
    case reference(AdapterError)
    /// The reference does not hold the adapter the `.lba` was converted from.
    case referenceMismatch(path: String, module: String, problem: String)
    /// Options that cannot work together.
    case invalidOptions(String)
    /// Checking a module would need more working memory than ``ValidationOptions/memoryLimit``.
    case tooLarge(path: String, module: String, bytes: Double, limit: Int)
    /// The base weights (`--base`) are missing, unreadable or do not fit a DoRA module.
    case base(path: String, module: String?, problem: String)
    /// A base weights file is not valid safetensors.
    case baseFile(SafeTensorsError)

    public var description: String {
        switch self {
        case .lba(let e): e.description
        case .reference(let e): e.description
        case .referenceMismatch(let path, let module, let problem):
            LBAError.oneLine("\(path): \(LBAError.quote(module)): \(problem)")
        case .invalidOptions(let text): LBAError.oneLine(text)
        case .tooLarge(let path, let module, let bytes, let limit):
            LBAError.oneLine("\(path): module \(LBAError.quote(module)): checking it needs about \(Format.bytes(Int(min(bytes, 9e18)))) of working memory, above the limit of \(Format.bytes(limit)) (fewer --tokens lowers it)")
        case .base(let path, let module, let problem):
            LBAError.oneLine("\(path): " + (module.map { "module \(LBAError.quote($0)): " } ?? "") + problem)
        case .baseFile(let e): e.description
        }
    }
}
