/// What produced a stored module: plain binarization, or a factorization and the refinement
/// stages that ran. Reports print it as the `method` text, e.g. `balanced · k=32 · als · bcd`
/// or `plain` (that text is part of the report's contract).
public enum ConversionMethod: Sendable, Equatable, CustomStringConvertible {
    /// The as-is factors' signs and rank-1 magnitudes, nothing refined.
    case plain
    /// `factorization`'s factors binarized, with `binaryRank` sign channels when it differs
    /// from the LoRA rank (nil when it does not), compact scales, and the stages that ran:
    /// closed-form scale refit (`als`) and exact sign search (`bcd`).
    case refined(factorization: Factorization, binaryRank: Int?, compact: Bool, scaleRefit: Bool, signSearch: Bool)

    /// The report's `method` text.
    public var description: String {
        switch self {
        case .plain:
            return "plain"
        case let .refined(factorization, binaryRank, compact, scaleRefit, signSearch):
            var parts = [factorization.rawValue]
            if let binaryRank { parts.append("k=\(binaryRank)") }
            if compact { parts.append("compact") }
            if scaleRefit { parts.append("als") }
            if signSearch { parts.append("bcd") }
            return parts.joined(separator: " · ")
        }
    }
}
