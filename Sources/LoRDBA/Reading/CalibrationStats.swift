/// Per-module input statistics that weight the refinement objective by input channel:
/// `‖(BA − B̂Â)·diag(√d)‖_F` with `d` the mean of `x²` over calibration tokens.
///
/// The file is a safetensors file with one F32 (or F16/BF16/F64) tensor `<module>.input_sq_mean`
/// of shape `[in]` per module; module names may carry PEFT's `base_model.model.` prefix or not.
public struct CalibrationStats: Sendable {
    /// The statistics by module name as written in the file.
    public let inputSquareMean: [String: [Float]]
    /// The file read.
    public let path: String

    public static let suffix = ".input_sq_mean"

    /// Reads and checks the statistics (finite, non-negative, one dimension).
    public init(path: String) throws(CalibrationError) {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch { throw .file(error) }
        var stats: [String: [Float]] = [:]
        for tensor in file.tensors where tensor.name.hasSuffix(Self.suffix) {
            guard tensor.shape.count == 1 else {
                throw .invalid(path: path, tensor: tensor.name, problem: "input statistics must be one-dimensional [in], found \(tensor.shape)")
            }
            let values: [Float]
            do { values = try file.floats(tensor) } catch { throw .file(error) }
            if let bad = values.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw .invalid(path: path, tensor: tensor.name, problem: "entry \(bad) is \(values[bad]); mean squares must be finite and non-negative")
            }
            stats[String(tensor.name.dropLast(Self.suffix.count))] = values
        }
        if stats.isEmpty {
            throw .invalid(path: path, tensor: nil, problem: "no `<module>\(Self.suffix)` tensors: not a calibration statistics file")
        }
        self.inputSquareMean = stats
        self.path = path
    }

    /// The statistics for `module`, matching with or without the `base_model.model.` prefix.
    public func statistics(for module: String) -> [Float]? {
        if let hit = inputSquareMean[module] { return hit }
        let prefix = PEFTLayout.modelPrefix
        if module.hasPrefix(prefix), let hit = inputSquareMean[String(module.dropFirst(prefix.count))] { return hit }
        return inputSquareMean[prefix + module]
    }
}

/// Why a calibration statistics file was refused; one line naming the file and tensor.
public enum CalibrationError: Error, Equatable, CustomStringConvertible {
    case file(SafeTensorsError)
    case invalid(path: String, tensor: String?, problem: String)
    /// A module's statistics have the wrong length.
    case mismatch(path: String, module: String, count: Int, expected: Int)

    public var description: String {
        switch self {
        case .file(let e): e.description
        case .invalid(let path, let tensor, let problem): [path, tensor, problem].compactMap { $0 }.joined(separator: ": ")
        case .mismatch(let path, let module, let count, let expected):
            "\(path): \(module)\(CalibrationStats.suffix): has \(count) entries, the module has \(expected) input features"
        }
    }
}
