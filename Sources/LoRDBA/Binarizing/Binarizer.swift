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

    public init(scaleDType: ScaleDType = .f16) {
        self.scaleDType = scaleDType
    }

    /// The binary module and the two magnitude fits it was built from.
    public struct Result: Sendable {
        public var module: BinaryModule
        /// Fit of `|A|` (`[r, in]`): row scale over `r`, column scale over `in`.
        public var fitA: MagnitudeFit
        /// Fit of `|Bᵀ|` (`[r, out]`): row scale over `r`, column scale over `out`.
        public var fitB: MagnitudeFit
    }

    /// Binarizes one module.
    public func binarize(_ module: LoRAModule) -> Result {
        let bRankMajor = module.b.transposed()
        let fitA = MagnitudeFit.fit(module.a)
        let fitB = MagnitudeFit.fit(bRankMajor)
        let (a, normA) = normalised(fitA.columnScale)
        let (b, normB) = normalised(fitB.columnScale)
        let middle = (0..<module.rank).map { j in
            Float(module.scale * Double(fitB.rowScale[j]) * Double(fitA.rowScale[j]) * Double(normA) * Double(normB))
        }
        let binary = BinaryModule(
            name: module.name, kind: module.kind, rank: module.rank, loraScale: module.scale,
            signA: SignMatrix(signsOf: module.a), signB: SignMatrix(signsOf: bRankMajor),
            scales: ChannelScales(input: a, middle: middle, output: b), source: module.source)
        return Result(module: binary, fitA: fitA, fitB: fitB)
    }

    /// `v` scaled to the dtype's normalised peak and rounded, and the divisor; a zero vector stays zero.
    private func normalised(_ v: [Float]) -> ([Float], Float) {
        let peak = (v.max() ?? 0) / scaleDType.normalisedPeak
        guard peak > 0 else { return (v.map { _ in 0 }, 0) }
        return (v.map { scaleDType.rounded($0 / peak) }, peak)
    }
}
