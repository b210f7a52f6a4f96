/// Product errors of other compressions of one module at a byte budget.
///
/// Every figure is `‖s·B·A − X‖_F/‖s·B·A‖_F` for the compressed product `X`, computed in
/// low-rank form (`LowRankProduct.compare`), never from the `out × in` matrix.
///
/// The Frobenius error is only a proxy for what matters, the adapted model's behaviour: an
/// SVD truncation can have a lower Frobenius error than a binary adapter of the same size and
/// still lose on the task (it keeps the dominant directions exactly and drops the rest, while
/// binarization spreads its error over all of them). Read these numbers as "how far is the
/// matrix", not "which adapter is better".
public struct BaselineErrors: Sendable, Equatable {
    /// Rank `r'` of the SVD truncation: the one whose fp16 factor bytes `2·r'·(in + out)` come
    /// closest to the budget (ties go to the smaller rank), with `1 ≤ r' ≤ r` (0 only when `r` is 0).
    public var svdRank: Int
    /// `2·r'·(in + out)`: the truncation's two fp16 factors.
    public var svdBytes: Int
    /// `‖sBA − T‖/‖sBA‖` for `T` the best rank-`r'` approximation of `sBA` (Eckart–Young),
    /// with its factors `√σ_i·u_i` and `√σ_i·v_i` (the LoRA scale kept apart, as a LoRA does)
    /// rounded to fp16 as fp16 storage would.
    public var svdTruncation: Double
    /// BitDelta-style: `A ≈ α·sign(A)`, `B ≈ β·sign(B)` with `α = mean|A|`, `β = mean|B|`
    /// (the L2-optimal scalars for those signs); `sign(0) = +1`.
    public var signPerFactor: Double
    /// XNOR-style: every row of `A` (`[r, in]`) and of `B` (`[out, r]`, one row per output
    /// channel) becomes `mean|row|·sign(row)`.
    public var signPerRow: Double
    /// 2-bit round-to-nearest of `A` and `B`, rows as for `signPerRow`, each row on the levels
    /// `{−3, −1, 1, 3}·Δ/2` with its MSE-optimal step `Δ` (see `TwoBitQuantizer`).
    public var twoBitRowwise: Double
    /// `⌈2·r·(in + out)/8⌉ + 2·(r + out)`: 2 bits per entry plus one fp16 step per row of `A` and of `B`.
    public var twoBitBytes: Int

    public init(svdRank: Int, svdBytes: Int, svdTruncation: Double, signPerFactor: Double,
                signPerRow: Double, twoBitRowwise: Double, twoBitBytes: Int) {
        self.svdRank = svdRank
        self.svdBytes = svdBytes
        self.svdTruncation = svdTruncation
        self.signPerFactor = signPerFactor
        self.signPerRow = signPerRow
        self.twoBitRowwise = twoBitRowwise
        self.twoBitBytes = twoBitBytes
    }
}

/// Baseline compressions of a LoRA module, for judging a `.lba` module against what its bytes
/// would buy otherwise.
///
/// Scales of the sign and 2-bit baselines (`α`, `β`, row means, steps) are kept at full
/// precision (`Float`), while their byte counts assume fp16: rounding a scale to fp16 moves
/// it by at most 2⁻¹¹ relative, which changes these errors negligibly. The SVD factors, whose
/// every entry is a stored value, are rounded to fp16.
public enum Baselines {
    /// All baselines of `module`, with the SVD truncation's rank chosen for `budgetBytes`
    /// (typically the bytes of the module's `.lba` form).
    public static func measure(_ module: LoRAModule, budgetBytes: Int) -> BaselineErrors {
        let reference = LowRankProduct(module)
        func error(_ approximation: LowRankProduct) -> Double {
            LowRankProduct.compare(reference: reference, approximation: approximation).relativeError
        }
        let rank = svdRank(budgetBytes: budgetBytes, rank: module.rank,
                           inFeatures: module.inFeatures, outFeatures: module.outFeatures)
        return BaselineErrors(
            svdRank: rank,
            svdBytes: svdBytes(rank: rank, inFeatures: module.inFeatures, outFeatures: module.outFeatures),
            svdTruncation: error(svdTruncation(module, rank: rank)),
            signPerFactor: error(signPerFactor(module)),
            signPerRow: error(signPerRow(module)),
            twoBitRowwise: error(twoBitRowwise(module)),
            twoBitBytes: twoBitBytes(rank: module.rank, inFeatures: module.inFeatures, outFeatures: module.outFeatures))
    }

    // MARK: - Sizes

    /// The rank `r' ∈ 1…r` whose `2·r'·(in + out)` bytes are closest to `budgetBytes` (smaller on ties; 0 when `r` is 0).
    public static func svdRank(budgetBytes: Int, rank: Int, inFeatures: Int, outFeatures: Int) -> Int {
        guard rank > 0 else { return 0 }
        let perRank = 2 * (inFeatures + outFeatures)
        var best = 1
        for candidate in 1...rank where abs(candidate * perRank - budgetBytes) < abs(best * perRank - budgetBytes) {
            best = candidate
        }
        return best
    }

    /// `2·r'·(in + out)`.
    public static func svdBytes(rank: Int, inFeatures: Int, outFeatures: Int) -> Int {
        2 * rank * (inFeatures + outFeatures)
    }

    /// `⌈2·r·(in + out)/8⌉ + 2·(r + out)`.
    public static func twoBitBytes(rank: Int, inFeatures: Int, outFeatures: Int) -> Int {
        (2 * rank * (inFeatures + outFeatures) + 7) / 8 + 2 * (rank + outFeatures)
    }

    /// `⌈r·(in + out)/8⌉ + 2·2`: one bit per entry and two fp16 scalars (BitDelta-style).
    public static func signPerFactorBytes(rank: Int, inFeatures: Int, outFeatures: Int) -> Int {
        (rank * (inFeatures + outFeatures) + 7) / 8 + 4
    }

    /// `⌈r·(in + out)/8⌉ + 2·(r + out)`: one bit per entry and one fp16 scale per row of `A` and of `B` (XNOR-style).
    public static func signPerRowBytes(rank: Int, inFeatures: Int, outFeatures: Int) -> Int {
        (rank * (inFeatures + outFeatures) + 7) / 8 + 2 * (rank + outFeatures)
    }

    // MARK: - The compressed products

    /// The best rank-`rank` approximation of `s·B·A`, factors rounded to fp16 when `roundToHalf`:
    /// the leading channels of the SVD-balanced pair (``LowRankSVD/balanced(_:)``, the factorizer's
    /// own decomposition, channels in descending singular value).
    static func svdTruncation(_ module: LoRAModule, rank: Int, roundToHalf: Bool = true) -> LowRankProduct {
        let balanced = LowRankSVD.balanced(LowRankProduct(module))
        let k = Swift.min(rank, balanced.rank)
        var a = Matrix(rows: k, cols: module.inFeatures)
        var bTransposed = Matrix(rows: k, cols: module.outFeatures)
        for i in 0..<k {
            for o in 0..<module.outFeatures { bTransposed[i, o] = store(balanced.bTransposed[i, o], roundToHalf) }
            for c in 0..<module.inFeatures { a[i, c] = store(balanced.a[i, c], roundToHalf) }
        }
        return LowRankProduct(a: a, bTransposed: bTransposed, scale: module.scale)
    }

    /// `s·(β·sign(B))·(α·sign(A))` with `α = mean|A|`, `β = mean|B|`.
    static func signPerFactor(_ module: LoRAModule) -> LowRankProduct {
        LowRankProduct(a: signTimesMean(module.a), bTransposed: signTimesMean(module.b.transposed()), scale: module.scale)
    }

    /// `s·B̂·Â` with every row of `A` and of `B` replaced by `mean|row|·sign(row)`.
    static func signPerRow(_ module: LoRAModule) -> LowRankProduct {
        LowRankProduct(a: rowSignTimesMean(module.a), bTransposed: rowSignTimesMean(module.b).transposed(),
                       scale: module.scale)
    }

    /// `s·B̂·Â` with every row of `A` and of `B` quantized to 2 bits (`TwoBitQuantizer`).
    static func twoBitRowwise(_ module: LoRAModule) -> LowRankProduct {
        LowRankProduct(a: TwoBitQuantizer.quantizeRows(module.a).values,
                       bTransposed: TwoBitQuantizer.quantizeRows(module.b).values.transposed(), scale: module.scale)
    }

    // MARK: - Helpers

    static func store(_ value: Float, _ roundToHalf: Bool) -> Float {
        roundToHalf ? Float(Float16(value)) : value
    }

    /// `±1` with `sign(0) = +1` (also for `-0.0`), as `SignMatrix` stores it.
    @inline(__always)
    static func sign(_ x: Float) -> Float { x < 0 ? -1 : 1 }

    /// `mean|X|·sign(X)`.
    static func signTimesMean(_ x: Matrix) -> Matrix {
        guard !x.values.isEmpty else { return x }
        let mean = Float(x.values.reduce(0.0) { $0 + Double(abs($1)) } / Double(x.values.count))
        return Matrix(rows: x.rows, cols: x.cols, values: x.values.map { mean * sign($0) })
    }

    /// Each row replaced by `mean|row|·sign(row)`.
    static func rowSignTimesMean(_ x: Matrix) -> Matrix {
        var out = x
        guard x.cols > 0 else { return out }
        for r in 0..<x.rows {
            let range = (r * x.cols)..<((r + 1) * x.cols)
            let mean = Float(x.values[range].reduce(0.0) { $0 + Double(abs($1)) } / Double(x.cols))
            for i in range { out.values[i] = mean * sign(x.values[i]) }
        }
        return out
    }
}
