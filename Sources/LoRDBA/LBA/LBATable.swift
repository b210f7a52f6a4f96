extension TableReader {
    /// One module entry of a checked table.
    struct Module {
        var name: String
        var kind: ModuleKind
        var inFeatures: Int
        var outFeatures: Int
        var rank: Int
        var binaryRank: Int
        var loraScale: Double
        var source: LoRAModule.Source
        var sections: [LBASectionContent: Int]
        /// Format 1.1: the carried magnitude tensor of a DoRA module.
        var doraMagnitude: String? = nil
    }

    /// One carried-tensor entry of a checked table.
    struct Carried {
        var name: String
        var dtype: TensorDType
        var shape: [Int]
        var section: Int
        /// Format 1.1: what the tensor is for.
        var role: CarriedRole? = nil
    }

    /// A table that passed every check, and turning its decoded sections into the adapter.
    struct Table {
        let path: String
        var layout: AdapterLayout
        var scaleDType: ScaleDType
        var metadata: [String: String]
        var modules: [Module]
        var carried: [Carried]
        var sections: [LBASectionInfo]

        func label(_ index: Int) -> String { sections[index].label }

        /// Builds the adapter from decoded section bytes (checking sign padding bits).
        func makeAdapter(_ decoded: [[UInt8]?]) throws(LBAError) -> BinaryAdapter {
            var modules: [BinaryModule] = []
            modules.reserveCapacity(self.modules.count)
            for module in self.modules {
                func section(_ content: LBASectionContent) -> [UInt8]? {
                    module.sections[content].flatMap { decoded[$0] }
                }
                let signA = try signs(section(.signA)!, rows: module.binaryRank, cols: module.inFeatures,
                                      label: label(module.sections[.signA]!))
                let signB = try signs(section(.signB)!, rows: module.binaryRank, cols: module.outFeatures,
                                      label: label(module.sections[.signB]!))
                let scales = ChannelScales(
                    input: try section(.scaleA).map { (bytes) throws(LBAError) -> [Float] in
                        try finite(scaleDType.decode(bytes), label: label(module.sections[.scaleA]!))
                    },
                    middle: try finite(ScaleDType.f32.decode(section(.scaleM)!), label: label(module.sections[.scaleM]!)),
                    output: try finite(scaleDType.decode(section(.scaleB)!), label: label(module.sections[.scaleB]!)))
                modules.append(BinaryModule(name: module.name, kind: module.kind, loraRank: module.rank,
                                            loraScale: module.loraScale, signA: signA, signB: signB,
                                            scales: scales, source: module.source))
            }
            let carried = self.carried.map { tensor in
                CarriedTensor(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: decoded[tensor.section]!,
                              role: tensor.role)
            }
            return BinaryAdapter(layout: layout, modules: modules, carried: carried, metadata: metadata,
                                 scaleDType: scaleDType)
        }

        private func signs(_ bytes: [UInt8], rows: Int, cols: Int, label: String) throws(LBAError) -> SignMatrix {
            let count = bytes.count / 8
            var words = [UInt64](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                for i in 0..<count { words[i] = raw.loadLE(UInt64.self, at: i * 8) }
            }
            if let row = LBALayoutMath.firstRowWithPaddingBits(words, rows: rows, cols: cols) {
                throw .signPadding(path: path, context: label, row: row)
            }
            return SignMatrix(rows: rows, cols: cols, words: words)
        }

        /// `values`, when every one is finite (NaN and ±∞ scales are refused).
        private func finite(_ values: [Float], label: String) throws(LBAError) -> [Float] {
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                throw .table(path: path, context: label, problem: "value \(index) is \(values[index]) (scales must be finite)")
            }
            return values
        }
    }
}
