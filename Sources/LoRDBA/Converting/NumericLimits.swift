import CLoRDBAKernels
/// The numeric range a conversion works in: every figure of a module is computed in Float (with
/// Double accumulators), so a module whose product could overflow Float is refused up front,
/// and a result with any non-finite figure is refused after the pipeline, instead of writing
/// infinite scales or reporting NaN errors as success.
public enum NumericLimits {
    /// The largest bound on `‖scale · B·A‖_F` accepted: its square (1e30) still fits a Float.
    public static let maximumProductNorm = 1e15

    /// Why `module` cannot be converted in Float arithmetic (naming the tensor), or `nil`.
    ///
    /// The bound is `scale · r · max|A| · max|B| · √(in · out)`, which no entry-wise product
    /// norm can exceed; it is far below the limit for any trained adapter.
    public static func inputProblem(_ module: LoRAModule) -> (tensor: String, problem: String)? {
        let scaleTensor = module.source.alphaTensor ?? module.source.bTensor
        guard module.scale.isFinite, module.scale > 0, Float(module.scale).isFinite else {
            return (scaleTensor, "LoRA scale \(module.scale) (alpha / rank) must be finite in Float and above 0")
        }
        // The largest |value| (exact, like the Double it becomes; NaN is skipped as `Swift.max`
        // skips it), by a vectorised C max (order-free, so identical on every path).
        func peak(_ values: [Float]) -> Double {
            values.withUnsafeBufferPointer { Double(lordba_abs_peak($0.baseAddress, $0.count)) }
        }
        let maxA = peak(module.a.values), maxB = peak(module.b.values)
        guard maxA.isFinite else { return (module.source.aTensor, "holds a non-finite value") }
        guard maxB.isFinite else { return (module.source.bTensor, "holds a non-finite value") }
        let bound = module.scale * Double(module.rank) * maxA * maxB
            * (Double(module.inFeatures) * Double(module.outFeatures)).squareRoot()
        guard bound <= maximumProductNorm else {
            let tensor = maxA >= maxB ? module.source.aTensor : module.source.bTensor
            return (tensor, "the product scale·B·A may reach a norm of \(bound), beyond the Float range this conversion computes in (limit \(maximumProductNorm))")
        }
        return nil
    }

    /// Why a pipeline result cannot be stored or reported (a non-finite figure), or `nil`.
    public static func outcomeProblem(_ outcome: ModulePipeline.Outcome, scaleDType: ScaleDType) -> String? {
        let e = outcome.errors
        let figures: [(String, Double?)] = [("product error", e.productError), ("cosine", e.cosine),
                                            ("plain product error", outcome.plainProductError),
                                            ("error of A", e.errorA), ("error of B", e.errorB)]
        for case let (name, value?) in figures where !value.isFinite {
            return "\(name) is \(value): the factors overflow Float arithmetic"
        }
        let scales = outcome.module.scales
        let vectors: [(String, [Float], ScaleDType)] = [("input scale", scales.input ?? [], scaleDType),
                                                        ("middle scale", scales.middle, .f32),
                                                        ("output scale", scales.output, scaleDType)]
        for (name, values, dtype) in vectors {
            if let v = dtype.firstNotStoredFinite(values) {
                return "\(name) \(v) is not finite in \(dtype.rawValue)"
            }
        }
        return nil
    }
}
