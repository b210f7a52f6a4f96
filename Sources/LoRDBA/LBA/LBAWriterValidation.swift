/// What the writer refuses: adapters the reader would reject or could not reproduce.
extension LBAWriter {
    /// Refuses adapters the reader would reject or could not reproduce.
    static func validate(_ adapter: BinaryAdapter, path: String) throws(LBAError) {
        func fail(_ context: String, _ problem: String) -> LBAError {
            .invalidAdapter(path: path, context: context, problem: problem)
        }
        for key in adapter.metadata.keys where key.unicodeScalars.contains("\u{0}") {
            throw fail("metadata", "key \(LBAError.quote(key)) holds a NUL character")
        }
        guard !adapter.modules.isEmpty else { throw fail("table", "an adapter needs at least one module") }
        var names = Set<String>()
        for module in adapter.modules {
            let context = "module \(LBAError.quote(module.name))"
            guard names.insert(module.name).inserted else { throw fail(context, "duplicate module name") }
            guard module.loraRank >= 0 else { throw fail(context, "negative rank \(module.loraRank)") }
            guard module.loraScale.isFinite else { throw fail(context, "LoRA scale \(module.loraScale) is not finite") }
            guard module.loraScale > 0 else { throw fail(context, "LoRA scale \(module.loraScale) must be above 0") }
            let dimensions = [("in", module.inFeatures), ("out", module.outFeatures), ("rank", module.loraRank),
                              ("binary rank", module.binaryRank)]
            for (name, value) in dimensions where value < 1 || value > LBAFormat.maximumDimension {
                throw fail(context, "\(name) = \(value) is outside 1…\(LBAFormat.maximumDimension)")
            }
            guard module.binaryRank <= module.loraRank * LBAFormat.maximumBinaryRankMultiple else {
                throw fail(context, "binary rank \(module.binaryRank) is above \(LBAFormat.maximumBinaryRankMultiple) × rank \(module.loraRank)")
            }
            let vectors: [(String, [Float], ScaleDType)] = [("scale_a", module.scales.input ?? [], adapter.scaleDType),
                                                            ("scale_m", module.scales.middle, .f32),
                                                            ("scale_b", module.scales.output, adapter.scaleDType)]
            for (label, values, dtype) in vectors {
                if let index = values.firstIndex(where: { !dtype.storesFinite($0) }) {
                    throw fail(context, "\(label) value \(index) is \(values[index]), not finite in \(dtype.rawValue)")
                }
            }
            for (label, signs) in [("sign_a", module.signA), ("sign_b", module.signB)] {
                guard signs.rows >= 0, signs.cols >= 0,
                      let count = LBALayoutMath.signWords(rows: signs.rows, cols: signs.cols),
                      signs.words.count == count else {
                    throw fail(context, "\(label) holds \(signs.words.count) words for shape [\(signs.rows), \(signs.cols)]")
                }
                if let row = LBALayoutMath.firstRowWithPaddingBits(signs.words, rows: signs.rows, cols: signs.cols) {
                    throw fail(context, "\(label) row \(row) has set bits in its padding past the last column")
                }
            }
            guard module.signA.rows == module.signB.rows else {
                throw fail(context, "sign_a has \(module.signA.rows) rows, sign_b \(module.signB.rows)")
            }
            guard module.scales.middle.count == module.binaryRank else {
                throw fail(context, "\(module.scales.middle.count) middle scales for binary rank \(module.binaryRank)")
            }
            guard module.scales.output.count == module.outFeatures else {
                throw fail(context, "\(module.scales.output.count) output scales for \(module.outFeatures) outputs")
            }
            if let input = module.scales.input, input.count != module.inFeatures {
                throw fail(context, "\(input.count) input scales for \(module.inFeatures) inputs")
            }
            if case .conv(let kernel) = module.kind, let problem = LBALayoutMath.kernelProblem(kernel, inFeatures: module.inFeatures) {
                throw fail(context, problem)
            }
        }
        var carriedNames = Set<String>()
        for tensor in adapter.carried {
            let context = "carried tensor \(LBAError.quote(tensor.name))"
            guard carriedNames.insert(tensor.name).inserted else { throw fail(context, "duplicate carried tensor name") }
            guard let expected = LBALayoutMath.tensorBytes(dtype: tensor.dtype, shape: tensor.shape) else {
                throw fail(context, "shape \(tensor.shape) is invalid for \(tensor.dtype.rawValue)")
            }
            guard expected == tensor.bytes.count else {
                throw fail(context, "\(tensor.bytes.count) bytes for \(tensor.dtype.rawValue) shape \(tensor.shape) (expected \(expected))")
            }
        }
    }
}
