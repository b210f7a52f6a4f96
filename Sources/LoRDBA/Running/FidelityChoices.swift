extension ConversionRun {
    /// The command line's fidelity and size choices, `nil` where a flag was not given: they
    /// decide the pipeline and the byte budget, and refuse combinations that contradict each
    /// other (`--plain` with any fidelity option, two ways to choose the binary rank).
    public struct FidelityChoices: Sendable {
        public var plain = false
        public var factorization: Factorization?
        public var binaryRank: BinaryRankChoice?
        public var compactScales: Bool?
        public var targetError: Double?
        public var sizeRatio: Double?
        public var budget: Int?
        public var budgetObjective: BudgetObjective?
        public var refitSweeps: Int?
        public var descentRounds: Int?
        /// Whether `--calibration` was given (it weights the refinement, so `--plain` refuses it).
        public var calibration = false
        public var scaleDType = PipelineOptions().scaleDType
        public var seed: UInt64 = PipelineOptions.defaultSeed

        public init() {}

        /// Why the choices cannot be used together, as a usage message (exit 64).
        public struct Conflict: Error, CustomStringConvertible, Equatable {
            public var description: String
        }

        /// Sets `options.pipeline`, `options.budget` and `options.budgetObjective`.
        public func apply(to options: inout ConversionOptions) throws(Conflict) {
            if [refitSweeps, descentRounds].contains(where: { ($0 ?? 0) < 0 }) {
                throw Conflict(description: "--refit-sweeps and --bcd-rounds must be at least 0.")
            }
            if let sizeRatio, !(sizeRatio >= 1 && sizeRatio.isFinite) {
                throw Conflict(description: "--size-ratio must be a number of at least 1.")
            }
            if let budget, budget < 1 { throw Conflict(description: "--budget must be a positive number of bytes.") }
            if sizeRatio != nil && budget != nil { throw Conflict(description: "Give --size-ratio or --budget, not both.") }
            let budgeted = sizeRatio != nil || budget != nil
            if budgetObjective != nil && !budgeted {
                throw Conflict(description: "--budget-objective needs --size-ratio or --budget.")
            }
            if budgeted && binaryRank != nil {
                throw Conflict(description: "--size-ratio / --budget choose the binary rank per module; leave out --binary-rank.")
            }
            if budgeted && targetError != nil {
                throw Conflict(description: "--size-ratio / --budget and --target-error both choose the binary rank; give one.")
            }
            if plain {
                let given: [(String, Bool)] = [
                    ("--factorization", factorization != nil), ("--binary-rank", binaryRank != nil),
                    ("--scales", compactScales != nil), ("--target-error", targetError != nil),
                    ("--size-ratio", sizeRatio != nil), ("--budget", budget != nil),
                    ("--budget-objective", budgetObjective != nil), ("--refit-sweeps", refitSweeps != nil),
                    ("--bcd-rounds", descentRounds != nil),
                    ("--calibration", calibration),
                ]
                if let flag = given.first(where: { $0.1 })?.0 {
                    throw Conflict(description: "--plain is plain binarization; it cannot be combined with \(flag).")
                }
            }
            var pipeline = plain ? PipelineOptions.plain : PipelineOptions()
            if let factorization { pipeline.factorization = factorization }
            if let binaryRank { pipeline.binaryRank = binaryRank }
            if let compactScales { pipeline.compactScales = compactScales }
            if let refitSweeps { pipeline.refitSweeps = refitSweeps }
            if let descentRounds { pipeline.descentRounds = descentRounds }
            pipeline.targetError = targetError
            pipeline.scaleDType = scaleDType
            pipeline.seed = seed
            options.pipeline = pipeline
            if let sizeRatio { options.budget = .sizeRatio(sizeRatio) }
            if let budget { options.budget = .bytes(budget) }
            if let budgetObjective { options.budgetObjective = budgetObjective }
        }
    }
}
