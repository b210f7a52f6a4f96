
/// The frozen weights of the base model, for checking DoRA modules as DoRA: the adapted weight
/// `diag(g/‖W₀ + ΔW‖_row)·(W₀ + ΔW)` needs `W₀` (formats/lba.md §7), which neither the `.lba`
/// nor the original adapter holds.
///
/// Opened from one `.safetensors` file or a folder of them (a sharded checkpoint: every
/// `*.safetensors` in it, by name). A module's weight is looked up under the module path
/// without PEFT's `base_model.model.` prefix plus `.weight` (then `.base_layer.weight`, then
/// the full path plus `.weight`).
public struct BaseWeights: Sendable {
    /// The path given (file or folder).
    public let path: String
    let files: [SafeTensorsFile]

    /// Opens `path`; a folder must hold at least one `.safetensors` file.
    public init(path: String) throws(ValidatorError) {
        self.path = path
        var names: [String] = []
        switch FileSystem.kind(of: path) {
        case .regular?:
            names = [path]
        case .directory?:
            names = FileSystem.entries(of: path).filter { $0.hasSuffix(".safetensors") }.map { FileSystem.join(path, $0) }
            guard !names.isEmpty else { throw .base(path: path, module: nil, problem: "no .safetensors file in the folder") }
        default:
            throw .base(path: path, module: nil, problem: "no such file or directory")
        }
        var files: [SafeTensorsFile] = []
        for name in names {
            do { files.append(try SafeTensorsFile(path: name)) } catch { throw .baseFile(error) }
        }
        self.files = files
    }

    /// The tensor names tried for `module`, in order.
    static func candidates(for module: String) -> [String] {
        let prefix = PEFTLayout.modelPrefix
        let path = module.hasPrefix(prefix) ? String(module.dropFirst(prefix.count)) : module
        return [path + ".weight", path + ".base_layer.weight", module + ".weight"]
    }

    /// `W₀` of `module` as `[out, in]` row-major Float32 (a conv kernel `[out, C_in, k₁, …]`
    /// flattened the way the `.lba` flattens `A`), checked finite and of `out × in` elements.
    func weight(module: String, outFeatures: Int, inFeatures: Int) throws(ValidatorError) -> [Float] {
        let names = Self.candidates(for: module)
        for name in names {
            for file in files {
                guard let info = file.tensor(named: name) else { continue }
                defer { file.release(info) }
                guard info.shape.first == outFeatures, info.elementCount == outFeatures * inFeatures else {
                    throw .base(path: file.path, module: module,
                                problem: "\(name) has shape \(info.shape), the module is \(inFeatures)→\(outFeatures) (expected [\(outFeatures), \(inFeatures)])")
                }
                let values: [Float]
                do { values = try file.floats(info) } catch { throw .baseFile(error) }
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw .base(path: file.path, module: module, problem: "\(name) has a non-finite value at element \(bad)")
                }
                return values
            }
        }
        throw .base(path: path, module: module, problem: "no base weight named \(names[0]) (nor \(names[1]), \(names[2]))")
    }
}
