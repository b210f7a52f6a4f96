/// PEFT keys that carry an adapter name, as `model.state_dict()` of a `PeftModel` writes them
/// (`save_pretrained` drops the name): `….lora_A.<name>.weight`, `….lora_B.<name>.weight`,
/// `….lora_embedding_A.<name>`, `….lora_embedding_B.<name>`. One file may hold several adapters.
enum PEFTAdapterNames {
    /// The factor kinds whose weight carries the adapter name before `.weight`.
    private static let linear: [(component: String, role: LayoutReader.Role, partner: String)] = [
        (PEFTLayout.aComponent, .a, PEFTLayout.bComponent), (PEFTLayout.bComponent, .b, PEFTLayout.aComponent),
    ]
    /// The factor kinds (embeddings: parameters, no `.weight`) that end with the adapter name.
    private static let embedding: [(component: String, role: LayoutReader.Role, partner: String)] = [
        (PEFTLayout.embeddingAComponent, .a, PEFTLayout.embeddingBComponent),
        (PEFTLayout.embeddingBComponent, .b, PEFTLayout.embeddingAComponent),
    ]

    /// Module path, name pattern (suffix with the adapter name) and adapter name of `name`, or `nil`.
    static func classify(_ name: String) -> (module: String, pattern: LayoutReader.NamePattern, adapter: String)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let n = parts.count
        if n >= 4, parts[n - 1] == "weight", let kind = linear.first(where: { $0.component == parts[n - 3] }),
           isAdapterName(parts[n - 2]) {
            let adapter = parts[n - 2]
            let pattern = LayoutReader.NamePattern(
                suffix: ".\(kind.component).\(adapter).weight", layout: .peft, role: kind.role, embedding: false,
                partner: ".\(kind.partner).\(adapter).weight")
            return (parts[0..<(n - 3)].joined(separator: "."), pattern, adapter)
        }
        if n >= 3, let kind = embedding.first(where: { $0.component == parts[n - 2] }), isAdapterName(parts[n - 1]) {
            let adapter = parts[n - 1]
            let pattern = LayoutReader.NamePattern(
                suffix: ".\(kind.component).\(adapter)", layout: .peft, role: kind.role, embedding: true,
                partner: ".\(kind.partner).\(adapter)")
            return (parts[0..<(n - 2)].joined(separator: "."), pattern, adapter)
        }
        return nil
    }

    /// The name `save_pretrained` gives a tensor of adapter `adapter`: the adapter name dropped,
    /// DoRA's `lora_magnitude_vector.<adapter>.weight` without `.weight`, and
    /// `modules_to_save.<adapter>.` dropped whole.
    static func savedName(_ name: String, adapter: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let i = parts.indices.dropFirst().first(where: { parts[$0] == adapter }) else { return name }
        if parts[i - 1] == "modules_to_save" {
            parts.removeSubrange((i - 1)...i)
        } else {
            if "." + parts[i - 1] == CarriedRole.magnitudeSuffix && parts.count == i + 2 && parts[i + 1] == "weight" { parts.removeLast() }
            parts.remove(at: i)
        }
        return parts.joined(separator: ".")
    }

    private static func isAdapterName(_ part: String) -> Bool {
        !part.isEmpty && part != "weight"
    }

    /// Whether a tensor that is not a LoRA factor belongs to adapter `adapter` by the PEFT naming
    /// `….lora_<something>.<adapter>[.…]` (DoRA's `lora_magnitude_vector.<adapter>.weight`, LoRA
    /// biases, …) or `….modules_to_save.<adapter>.…`.
    static func belongs(_ name: String, to adapter: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        for i in parts.indices.dropFirst() where parts[i] == adapter
            && (parts[i - 1].hasPrefix("lora_") || parts[i - 1] == "modules_to_save") {
            return true
        }
        return false
    }
}

extension LayoutReader {
    /// Keeps the factors of one adapter: the one `adapterName` names, or the only one the keys
    /// name. Returns the kept factors (module path, pattern) and the names of the tensors left
    /// out: the other adapters' and, as `save_pretrained` would, the base model's. The chosen
    /// adapter's other tensors are renamed the way `save_pretrained` names them
    /// (`carriedNames`), so the file converts exactly like that output.
    /// - Throws: when several adapters are named and none was chosen, or the chosen one is absent.
    mutating func chooseAdapter(_ factors: [(SafeTensorInfo, String, NamePattern, String?)], others: [String])
        throws(AdapterError) -> (kept: [(SafeTensorInfo, String, NamePattern)], skipped: [String])
    {
        let names = Set(factors.compactMap(\.3)).sorted()
        let chosen: String?
        if let adapterName {
            guard names.contains(adapterName) else {
                throw .unknownAdapterName(path: file.path, name: adapterName, names: names)
            }
            chosen = adapterName
        } else if names.count > 1 {
            throw .ambiguousAdapterName(path: file.path, names: names)
        } else {
            chosen = names.first
        }
        guard let chosen else { return (factors.map { ($0.0, $0.1, $0.2) }, []) }
        var kept: [(SafeTensorInfo, String, NamePattern)] = []
        var skipped: [String] = []
        for factor in factors {
            if factor.3 == nil || factor.3 == chosen {
                kept.append((factor.0, factor.1, factor.2))
            } else {
                skipped.append(factor.0.name)
            }
        }
        var baseTensors = 0
        let taken = Set(others)
        for name in others {
            if PEFTAdapterNames.belongs(name, to: chosen) {
                let saved = PEFTAdapterNames.savedName(name, adapter: chosen)
                if saved != name && !taken.contains(saved) && !carriedNames.values.contains(saved) { carriedNames[name] = saved }
            } else {
                skipped.append(name)
                if !names.contains(where: { PEFTAdapterNames.belongs(name, to: $0) }) { baseTensors += 1 }
            }
        }
        let otherAdapters = skipped.count - baseTensors
        var note = names.count == 1
            ? "the keys name the adapter \"\(chosen)\"; module names drop it"
            : "read adapter \"\(chosen)\" of \(names.count) named in the keys (\(names.joined(separator: ", "))); module names drop the adapter name; \(otherAdapters) tensor(s) of the other adapter(s) left out"
        if baseTensors > 0 { note += "; \(baseTensors) tensor(s) of the base model left out, as save_pretrained does" }
        notes.append(note)
        return (kept, skipped)
    }
}
