/// One module's factors back in real numbers: `ΔW = B'·A'` exactly as the `.lba` stores it,
/// with `A' = diag(m)·S_A·diag(a)` (`[k, in]`) and `B' = diag(b)·S_Bᵀ` (`[out, k]`).
///
/// The LoRA scale is already inside `m`, so a library must apply these factors with scaling 1;
/// each exporter picks its library's alpha so that it does. Nothing `out × in` is formed.
public struct DequantizedModule: Sendable {
    /// The module's name in the `.lba`.
    public var name: String
    public var kind: ModuleKind
    public var inFeatures: Int
    public var outFeatures: Int
    /// `k`, the exported rank.
    public var rank: Int
    /// `A'`, row-major `[k, in]`.
    public var a: [Float]
    /// `B'`, row-major `[out, k]`.
    public var b: [Float]
    /// Where the module came from in the source adapter (tensor names).
    public var source: LoRAModule.Source
    /// The carried DoRA magnitude tensor of this module, if any.
    public var doraMagnitude: String?

    /// Dequantizes `module` (signs times scales; exact in Float32 up to one rounding per entry).
    public init(_ module: BinaryModule, doraMagnitude: String? = nil) {
        let k = module.binaryRank
        let n = module.inFeatures
        let o = module.outFeatures
        var a = [Float](repeating: 0, count: k * n)
        let input = module.scales.input
        for j in 0..<k {
            let m = module.scales.middle[j]
            for c in 0..<n {
                let magnitude = input.map { $0[c] * m } ?? m
                a[j * n + c] = module.signA.isNegative(row: j, col: c) ? -magnitude : magnitude
            }
        }
        var b = [Float](repeating: 0, count: o * k)
        for j in 0..<k {
            for r in 0..<o {
                let magnitude = module.scales.output[r]
                b[r * k + j] = module.signB.isNegative(row: j, col: r) ? -magnitude : magnitude
            }
        }
        self.name = module.name
        self.kind = module.kind
        self.inFeatures = n
        self.outFeatures = o
        self.rank = k
        self.a = a
        self.b = b
        self.source = module.source
        self.doraMagnitude = doraMagnitude
    }

    /// `A'` transposed, `[in, k]` (MLX's `lora_a`).
    public var aTransposed: [Float] { Self.transpose(a, rows: rank, cols: inFeatures) }
    /// `B'` transposed, `[k, out]` (MLX's `lora_b`).
    public var bTransposed: [Float] { Self.transpose(b, rows: outFeatures, cols: rank) }

    /// `A'` padded with zero rows and `B'` with zero columns to rank `k ≥ rank` (ΔW unchanged).
    public func padded(toRank k: Int) -> DequantizedModule {
        precondition(k >= rank)
        guard k > rank else { return self }
        var copy = self
        copy.a = a + [Float](repeating: 0, count: (k - rank) * inFeatures)
        var wide = [Float](repeating: 0, count: outFeatures * k)
        for r in 0..<outFeatures {
            for j in 0..<rank { wide[r * k + j] = b[r * rank + j] }
        }
        copy.b = wide
        copy.rank = k
        return copy
    }

    /// `B'` multiplied by `factor` (to meet a library's fixed `alpha / rank`).
    public func scalingB(by factor: Float) -> DequantizedModule {
        var copy = self
        copy.b = b.map { $0 * factor }
        return copy
    }

    static func transpose(_ values: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows {
            for c in 0..<cols { out[c * rows + r] = values[r * cols + c] }
        }
        return out
    }
}

/// Shared helpers of the exporters: reading the `.lba`, encoding tensors, naming.
enum ExportSupport {
    /// The prefix PEFT puts before module paths.
    static let peftPrefix = PEFTLayout.modelPrefix

    /// Appends the carried tensors unchanged under their own names (a name an exported factor
    /// already uses is left out, with a note); returns how many were appended.
    static func appendCarried(_ carried: [CarriedTensor],
                              to tensors: inout [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])],
                              notes: inout [String]) -> Int {
        var taken = Set(tensors.map(\.name))
        var count = 0
        for tensor in carried {
            guard taken.insert(tensor.name).inserted else {
                notes.append("carried tensor \(tensor.name) clashes with an exported factor's name; left out")
                continue
            }
            tensors.append((tensor.name, tensor.dtype, tensor.shape, tensor.bytes))
            count += 1
        }
        return count
    }

    /// `values` in `dtype`, refusing values that do not fit (f16 overflows above 65504).
    static func encode(_ values: [Float], as dtype: ExportDType, path: String, module: String) throws(ExportError) -> [UInt8] {
        if let bad = values.first(where: { !$0.isFinite }) {
            throw .nonFinite(path: path, module: module, value: bad)
        }
        let bytes = SafeTensorsWriter.encode(values, as: dtype.tensorDType)
        if dtype == .f16 {
            for v in values where abs(v) > 65504 {
                throw .notRepresentable(path: path, module: module, dtype: dtype.rawValue)
            }
        }
        return bytes
    }

    /// `name` without PEFT's `base_model.model.` prefix.
    static func strippingPEFTPrefix(_ name: String) -> String {
        PEFTLayout.withoutModelPrefix(name)
    }

    /// The most common rank (the smallest among equally common ones).
    static func commonRank(_ ranks: [Int]) -> Int {
        var counts: [Int: Int] = [:]
        for r in ranks { counts[r, default: 0] += 1 }
        return counts.max { x, y in x.value != y.value ? x.value < y.value : x.key > y.key }?.key ?? 1
    }

    /// The source adapter config recorded by the converter (`lordba.source_config`), if any.
    static func sourceConfig(_ adapter: BinaryAdapter) -> [(String, JSONValue)]? {
        guard let text = adapter.metadata[ConversionMetadata.Key.sourceConfig],
              let value = try? JSONParser.parse(text) else { return nil }
        return value.objectValue
    }

    /// Sets `key` in an ordered JSON object (replacing it in place, or appending).
    static func set(_ members: inout [(String, JSONValue)], _ key: String, _ value: JSONValue) {
        if let i = members.firstIndex(where: { $0.0 == key }) { members[i].1 = value } else { members.append((key, value)) }
    }

    /// A JSON document as UTF-8 bytes, indented, with a final newline.
    static func jsonBytes(_ value: JSONValue) -> [UInt8] {
        Array((value.serialized(indent: 2) + "\n").utf8)
    }
}
