/// How many sign channels to store per module.
public enum BinaryRankChoice: Sendable, Equatable {
    /// `k = r · multiple` (`1` is plain LoRDBA).
    case multiple(Int)
    /// `k = n` channels (below `r`: the top `n` directions of the balanced factorization).
    case fixed(Int)

    /// Parses `16`, `2x`, `3x`.
    public init?(_ text: String) {
        if text.hasSuffix("x"), let n = Int(text.dropLast()), n >= 1 {
            self = .multiple(n)
        } else if let n = Int(text), n >= 1 {
            self = .fixed(n)
        } else {
            return nil
        }
    }

    /// The number of channels for a module of rank `r`.
    public func channels(rank r: Int) -> Int {
        switch self {
        case .multiple(let n): r * n
        case .fixed(let n): n
        }
    }
}

/// Everything that decides how a LoRA module becomes a binary module.
public struct PipelineOptions: Sendable {
    /// How the factor pair is chosen before binarizing.
    public var factorization: Factorization = .auto
    /// Sign channels per module.
    public var binaryRank: BinaryRankChoice = .multiple(1)
    /// When set, the smallest binary rank (in steps of `r`, up to `binaryRank`'s channels or 4r)
    /// whose product error is at most this.
    public var targetError: Double?
    /// Keep the input-channel scale `a` (full) or drop it (compact: `m` and `b` only).
    public var compactScales = false
    /// Storage dtype of `a` and `b`.
    public var scaleDType: ScaleDType = .e4m3
    /// Closed-form scale refits (alternating least squares sweeps); 0 turns them off.
    public var refitSweeps = 6
    /// Rounds of exact sign search (binary coordinate descent, each followed by a refit);
    /// 0 turns it off.
    public var descentRounds = SignDescent.defaultRounds
    /// Seed for the random orthogonal mixes of `rotated` (ranks that are not powers of two).
    public var seed: UInt64 = PipelineOptions.defaultSeed

    /// The one default seed of the toolchain (conversion, factorizer, validator).
    public static let defaultSeed: UInt64 = 1

    public init() {}

    /// Whether these options are plain binarization (no factorizer, refit, search or extra channels).
    public var isPlain: Bool {
        factorization == .asIs && refitSweeps == 0 && descentRounds == 0
            && binaryRank == .multiple(1) && targetError == nil && !compactScales
    }

    /// Plain LoRDBA: the factors as trained, signs and rank-1 magnitudes, no refinement.
    public static var plain: PipelineOptions {
        var options = PipelineOptions()
        options.factorization = .asIs
        options.refitSweeps = 0
        options.descentRounds = 0
        return options
    }
}
