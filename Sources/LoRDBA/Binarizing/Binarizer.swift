/// Turns a LoRA module into LoRDBA form: `S_A = sign(A)`, `S_B = sign(B)` with `sign(0) = +1`,
/// and channel scales from the best rank-1 fits of `|A|` and `|B|`.
///
/// With `|A| ≈ u_A·v_Aᵀ` and `|B| ≈ u_B·v_Bᵀ`, the product is
/// `s·B̂·Â = diag(u_B)·S_B·diag(s·v_B ⊙ u_A)·S_A·diag(v_A)`, so `a = v_A`, `m = s·v_B ⊙ u_A`,
/// `b = u_B`. `a` and `b` are normalised to a largest value of 1 (their norms move into `m`)
/// and rounded to the storage dtype, so the module holds exactly what the file will hold.
public struct Binarizer: Sendable {
    /// The dtype the outer scales `a` and `b` are stored in.
    public var scaleDType: ScaleDType
    /// Threads for one module: the two factors' fits run side by side when above 1 (the same result).
    public var threads: Int

    public init(scaleDType: ScaleDType = PipelineOptions().scaleDType, threads: Int = 1) {
        self.scaleDType = scaleDType
        self.threads = threads
    }

    /// Binarizes one module.
    public func binarize(_ module: LoRAModule) -> Binarization {
        binarize(LowRankProduct(module), as: module)
    }

    /// Binarizes the factors `factors` (a re-factorization of `module`'s product) into a module
    /// named and sourced like `module`.
    public func binarize(_ factors: LowRankProduct, as module: LoRAModule) -> Binarization {
        let binary = signsAndScales(factors)
        let stored = BinaryModule(
            name: module.name, kind: module.kind, loraRank: factors.rank, loraScale: factors.scale,
            signA: binary.signA, signB: binary.signB, scales: binary.scales, source: module.source)
        return Binarization(module: stored, fitA: binary.fitA, fitB: binary.fitB)
    }

    /// The signs and channel scales of `factors`: a module's contents without its name.
    public func signsAndScales(_ factors: LowRankProduct)
        -> (signA: SignMatrix, signB: SignMatrix, scales: ChannelScales, fitA: MagnitudeFit, fitB: MagnitudeFit)
    {
        let fits = ParallelLoop.map(count: 2, threads: threads) { side in
            MagnitudeFit.fit(side == 0 ? factors.a : factors.bTransposed)
        }
        let (fitA, fitB) = (fits[0], fits[1])
        let (a, normA) = normalised(fitA.columnScale)
        let (b, normB) = normalised(fitB.columnScale)
        let middle = (0..<factors.rank).map { j in
            Float(factors.scale * Double(fitB.rowScale[j]) * Double(fitA.rowScale[j]) * Double(normA) * Double(normB))
        }
        return (SignMatrix(signsOf: factors.a), SignMatrix(signsOf: factors.bTransposed),
                ChannelScales(input: a, middle: middle, output: b), fitA, fitB)
    }

    /// The module to store from working signs (`±1` rows, `S_B` rank-major) and unnormalised
    /// scales: `a` (unless `compact`, which stores no `a`) and `b` normalised to the dtype's
    /// peak and rounded, their peaks moved into `m`, then `m` refitted for the rounded values by
    /// `refitMiddle` (the refiner's closed form; `m` is stored as f32). Named like `template`.
    public func storedModule(signA: Matrix, signB: Matrix, scales: ChannelScales, like template: BinaryModule,
                             compact: Bool, refitMiddle: (ChannelScales) -> [Float]) -> BinaryModule {
        let (b, bPeak) = normalised(scales.output)
        var a = scales.input
        var aPeak: Float = 1
        if !compact, let input = scales.input {
            let (normalisedInput, peak) = normalised(input)
            a = normalisedInput
            aPeak = peak
        }
        let rounded = ChannelScales(input: a, middle: scales.middle.map { $0 * aPeak * bPeak }, output: b)
        let middle = refitMiddle(rounded)
        return BinaryModule(
            name: template.name, kind: template.kind, loraRank: template.loraRank, loraScale: template.loraScale,
            signA: SignMatrix(signsOf: signA), signB: SignMatrix(signsOf: signB),
            scales: ChannelScales(input: compact ? nil : rounded.input, middle: middle, output: b),
            source: template.source)
    }

    /// `v` scaled to the dtype's normalised peak (of the magnitudes) and rounded, and the
    /// divisor; a zero vector stays zero.
    func normalised(_ v: [Float]) -> ([Float], Float) {
        let peak = v.reduce(Float(0)) { Swift.max($0, abs($1)) } / scaleDType.normalisedPeak
        guard peak > 0 else { return ([Float](repeating: 0, count: v.count), 0) }
        return (scaleDType.rounded(v, dividedBy: peak), peak)
    }
}

/// A module binarized, with the two magnitude fits it was built from (the report's factor
/// figures come from them).
public struct Binarization: Sendable {
    public var module: BinaryModule
    /// Fit of `|A|` (`[r, in]`): row scale over `r`, column scale over `in`.
    public var fitA: MagnitudeFit
    /// Fit of `|Bᵀ|` (`[r, out]`): row scale over `r`, column scale over `out`.
    public var fitB: MagnitudeFit
}
