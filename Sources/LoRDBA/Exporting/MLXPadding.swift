/// The bound on MLX-LM's rank padding.
///
/// mlx-lm builds every adapted layer with one rank (`lora_parameters.rank`), so ``MLXExport``
/// pads each module to the largest `k`. Padding multiplies sizes: one narrow module with a large
/// `k` beside many wide modules with `k = 1` would make a small `.lba` ask for terabytes. The
/// padded export is therefore checked, overflow-safe and before anything is dequantized, against
/// the adapter's own factor values: at most ``maximumExpansion`` times them plus ``allowance``.
extension MLXExport {
    /// How many times its unpadded factor values a padded export may hold.
    static let maximumExpansion = 16
    /// Values any export may pad to regardless of the ratio: 64 Mi (256 MiB in f32).
    static let allowance = 1 << 26

    /// One module's size: its `k` and its input and output widths.
    typealias Shape = (k: Int, inFeatures: Int, outFeatures: Int)

    /// The values the export writes (`Σ K·(in + out)` with `K` the largest `k`) and the adapter's
    /// own (`Σ k·(in + out)`); `nil` for a total beyond `Int`.
    static func paddedValues(_ shapes: [Shape]) -> (padded: Int, own: Int)? {
        let rank = shapes.map(\.k).max() ?? 1
        var padded = 0, own = 0
        for shape in shapes {
            let (width, o1) = shape.inFeatures.addingReportingOverflow(shape.outFeatures)
            let (p, o2) = rank.multipliedReportingOverflow(by: width)
            let (u, o3) = shape.k.multipliedReportingOverflow(by: width)
            let (nextPadded, o4) = padded.addingReportingOverflow(p)
            let (nextOwn, o5) = own.addingReportingOverflow(u)
            if o1 || o2 || o3 || o4 || o5 { return nil }
            (padded, own) = (nextPadded, nextOwn)
        }
        return (padded, own)
    }

    /// Refuses an adapter whose padding to one rank would exceed the bound, naming the module
    /// with the largest `k` (the one that forces the padding).
    static func checkPadding(_ modules: [BinaryModule], path: String) throws(ExportError) {
        guard let widest = modules.max(by: { $0.binaryRank < $1.binaryRank }) else { return }
        let totals = paddedValues(modules.map { ($0.binaryRank, $0.inFeatures, $0.outFeatures) })
        if let totals {
            let (scaled, o1) = totals.own.multipliedReportingOverflow(by: maximumExpansion)
            let (limit, o2) = scaled.addingReportingOverflow(allowance)
            if o1 || o2 || totals.padded <= limit { return }
        }
        let size = totals.map { "\($0.padded) values, more than \(maximumExpansion) × the adapter's \($0.own)" } ?? "more values than can be counted"
        throw .unsupported(path: path, module: widest.name,
                           problem: "mlx-lm uses one rank for every layer; padding every module to this module's k = \(widest.binaryRank) would write \(size); nothing exported (export to peft, which keeps each module's rank)")
    }
}
