import ArgumentParser
import LoRDBA

// The command line's choice options: each is an enum the parser checks, listing its values in
// `--help` and in the error for a wrong one.

extension ScaleDType: ExpressibleByArgument {}

extension Factorization: ExpressibleByArgument {}

extension BudgetObjective: ExpressibleByArgument {}

/// `--scales`: keep the input-channel scale vector or not.
enum ScalesChoice: String, CaseIterable, ExpressibleByArgument {
    /// `a`, `m` and `b`.
    case full
    /// `m` and `b` only.
    case compact
}

/// `--binary-rank`: `N` channels, or a multiple of the LoRA rank such as `2x`.
extension BinaryRankChoice: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }

    public var defaultValueDescription: String {
        switch self {
        case .multiple(let n): "\(n)x"
        case .fixed(let n): "\(n)"
        }
    }
}

extension BinaryRankChoice {
    /// What shell completion offers for `--binary-rank` (any `N` or `Nx` is accepted).
    static let suggestions = ["1x", "2x", "3x", "4x"]
}
