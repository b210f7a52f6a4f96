/// One module through the whole pipeline: factorizer → binarizer → refiner → stored module,
/// with the plain binarization kept as the fallback so the result is never worse than it.
public struct ModulePipeline: Sendable {
    public var options: PipelineOptions
    /// Threads inside this module (its factors' fits and error sides side by side, the sign
    /// search's columns and Gram products split); the result is the same for any number.
    public var threads: Int

    public init(options: PipelineOptions, threads: Int = 1) {
        self.options = options
        self.threads = threads
    }

    /// The stored module, its error figures, and how it was made.
    public struct Outcome: Sendable {
        public var module: BinaryModule
        public var errors: ModuleErrors
        /// Product error of plain binarization (the as-is factors, rank-1 magnitudes).
        public var plainProductError: Double
        /// What produced the stored module.
        public var method: ConversionMethod
    }

    /// Runs the pipeline; `inputSquareMean` (per input channel) weights the objective when given.
    public func run(_ module: LoRAModule, inputSquareMean: [Float]? = nil) -> Outcome {
        let product = LowRankProduct(module)
        // Plain binarization: the report's factor figures, and the floor every option must beat.
        let plain = Binarizer(scaleDType: options.scaleDType, threads: threads).binarize(product, as: module)
        let plainErrors = ErrorAnalysis.analyze(original: module, binary: plain.module, fits: (plain.fitA, plain.fitB),
                                                threads: threads)
        let plainOutcome = Outcome(module: plain.module, errors: plainErrors, plainProductError: plainErrors.productError,
                                   method: .plain)
        if options.isPlain { return plainOutcome }

        let target = RefinementTarget(product, inputSquareMean: inputSquareMean)
        // 1.–3. Factorize, binarize, refit, grow, sign search (CandidateSearch.swift).
        let best = searched(product, target: target)
        // 4. Store (normalise and round the scales, refit m), measure, and never do worse than plain.
        let state = best.state
        let stored = Binarizer(scaleDType: options.scaleDType).storedModule(
            signA: state.signA, signB: state.signB, scales: state.unweightedScales(target: target, template: plain.module),
            like: plain.module, compact: options.compactScales,
            refitMiddle: { state.refittedMiddle(for: $0, target: target) })
        let measured = ErrorAnalysis.analyze(original: module, binary: stored, threads: threads)
        if !options.compactScales && stored.binaryRank == module.rank && measured.productError > plainErrors.productError {
            return plainOutcome
        }
        return Outcome(module: stored, errors: measured.describingPlainBinarization(plainErrors),
                       plainProductError: plainErrors.productError,
                       method: ConversionMethod(best.factorization, binaryRank: stored.binaryRank, loraRank: module.rank,
                                                options: options))
    }
}

extension ConversionMethod {
    /// The method of a refined module made with `options` from `factorization`'s factors.
    init(_ factorization: Factorization, binaryRank: Int, loraRank: Int, options: PipelineOptions) {
        self = .refined(factorization: factorization, binaryRank: binaryRank == loraRank ? nil : binaryRank,
                        compact: options.compactScales, scaleRefit: options.refitSweeps > 0,
                        signSearch: options.descentRounds > 0)
    }
}
