/// Writes a `.lba` back as a kohya-ss LoRA: one safetensors file with `<name>.lora_down.weight`
/// (`A'`, conv: `[k, C_in, k₁, …]`), `<name>.lora_up.weight` (`B'`, conv: `[out, k, 1, …]`) and
/// a scalar `<name>.alpha = k`, so kohya's `alpha / rank` scaling is exactly 1.
///
/// Names: the source's when the source was kohya; otherwise `lora_` followed by the module path
/// (PEFT prefix removed) with dots replaced by underscores. Carried tensors are written back
/// byte for byte under their original names; DoRA magnitudes too, with a note that kohya-format
/// loaders ignore them (the module then runs as plain LoRA).
enum KohyaExport {
    static func file(_ adapter: BinaryAdapter, modules: [DequantizedModule], dtype: ExportDType,
                     path: String) throws(ExportError) -> ExportFiles {
        var tensors: [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])] = []
        for module in modules {
            let base = baseName(module, fromKohya: adapter.layout == .kohya)
            let (aShape, bShape) = PEFTExport.shapes(module)
            tensors.append((base + KohyaLayout.aSuffix, dtype.tensorDType, aShape,
                            try ExportSupport.encode(module.a, as: dtype, path: path, module: module.name)))
            tensors.append((base + KohyaLayout.bSuffix, dtype.tensorDType, bShape,
                            try ExportSupport.encode(module.b, as: dtype, path: path, module: module.name)))
            tensors.append((base + KohyaLayout.alphaSuffix, .f32, [], SafeTensorsWriter.encode([Float(module.rank)], as: .f32)))
        }
        var notes: [String] = []
        let magnitudes = adapter.carried.filter { $0.role == .magnitude }.count
        if magnitudes > 0 {
            notes.append("\(magnitudes) DoRA magnitude\(magnitudes == 1 ? "" : "s") kept under PEFT's name (….lora_magnitude_vector): kohya-format loaders do not read it and run those modules as plain LoRA; export to peft (or mlx) to run them as DoRA")
        }
        let carried = ExportSupport.appendCarried(adapter.carried, to: &tensors, notes: &notes)
        let bytes = SafeTensorsWriter.serialize(tensors, metadata: KohyaLayout.metadata)
        return ExportFiles(files: [("", bytes)], notes: notes, carried: carried)
    }

    static func baseName(_ module: DequantizedModule, fromKohya: Bool) -> String {
        let suffix = KohyaLayout.aSuffix
        if fromKohya, module.source.aTensor.hasSuffix(suffix) { return String(module.source.aTensor.dropLast(suffix.count)) }
        return KohyaLayout.name(ofPath: ExportSupport.strippingPEFTPrefix(module.name))
    }
}
