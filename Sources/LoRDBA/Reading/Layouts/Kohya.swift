/// The kohya-ss layout (sd-scripts `networks.lora`): `<name>.lora_down.weight` (`A`),
/// `<name>.lora_up.weight` (`B`) and a scalar `<name>.alpha` (scale `alpha / r`; alpha = r when
/// absent or 0, as kohya does). Used by the reader (``LayoutReader``) and by the kohya exporter.
enum KohyaLayout {
    /// The factor suffixes.
    static let aSuffix = ".lora_down.weight", bSuffix = ".lora_up.weight"
    /// The per-module alpha: `<name>.alpha`.
    static let alphaSuffix = ".alpha"
    /// The prefix of a module's name when it is built from a module path (`lora_` + path with
    /// `_` for `.`).
    static let namePrefix = "lora_"
    /// The suffix of a kohya DoRA magnitude (`<name>.dora_scale`).
    static let magnitudeSuffix = ".dora_scale"
    /// The safetensors metadata sd-scripts writes and its loaders look for.
    static let metadata = ["ss_network_module": "networks.lora"]

    /// The factor suffixes, as name patterns for ``LayoutReader``.
    static let namePatterns: [LayoutReader.NamePattern] = [
        .init(suffix: aSuffix, layout: .kohya, role: .a, embedding: false, partner: bSuffix),
        .init(suffix: bSuffix, layout: .kohya, role: .b, embedding: false, partner: aSuffix),
    ]

    /// The kohya name of a module path: `lora_` followed by the path with dots replaced by underscores.
    static func name(ofPath path: String) -> String {
        namePrefix + path.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "_")
    }
}

/// The alpha-tensor scale rule (kohya, and diffusers files without a config).
extension LayoutReader {
    /// `alpha/r` from the first of `candidates` that is a tensor of the file (alpha = r, scale 1,
    /// when none is or alpha is 0, as kohya does).
    func alphaTensorScale(_ spec: inout ModuleSpec, candidates: [String], source: inout ScaleSource) throws(AdapterError) -> Double {
        guard let alphaInfo = candidates.lazy.compactMap({ self.file.tensor(named: $0) }).first else {
            source.kohyaMissingAlpha += 1
            return 1
        }
        spec.alphaTensor = alphaInfo
        let alpha = try kohyaAlpha(alphaInfo)
        if alpha == 0 {
            source.kohyaZeroAlpha += 1
            return 1
        }
        return alpha / Double(spec.rank)
    }

    private func kohyaAlpha(_ info: SafeTensorInfo) throws(AdapterError) -> Double {
        guard info.dtype.isConvertibleFloat else {
            throw .invalidAlpha(path: path, tensor: info.name, problem: "alpha must be a float scalar, found \(info.dtype.rawValue)")
        }
        guard info.elementCount == 1 else {
            throw .invalidAlpha(path: path, tensor: info.name,
                                problem: "alpha must hold exactly one value, found shape \(ReadingText.shape(info.shape))")
        }
        let value: Double = file.withBytes(info) { bytes in
            if info.dtype == .f64 {
                return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
            }
            var one: Float = 0
            withUnsafeMutablePointer(to: &one) { pointer in
                info.dtype.decodeFloats(bytes, count: 1, into: UnsafeMutableBufferPointer(start: pointer, count: 1))
            }
            return Double(one)
        }
        guard value.isFinite else {
            throw .invalidAlpha(path: path, tensor: info.name, problem: "alpha is \(value), not a finite number")
        }
        return value
    }
}
