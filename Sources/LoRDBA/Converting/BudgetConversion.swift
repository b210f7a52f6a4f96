extension Converter {
    static func encoded(_ adapter: BinaryAdapter) throws(ConversionError) -> Int {
        do { return try LBAWriter().encode(adapter).bytes.count } catch { throw .output(error) }
    }

    /// Every module at each of its candidate binary ranks (up to 3r, and up to 8r when 3r cannot
    /// spend the budget), then the allocation within `budget`: the outcomes to store and a note
    /// for the summary (which names the largest file the options allow when the budget is beyond it). The file's fixed part (preamble, table,
    /// carried tensors) is measured by encoding, and the module limit shrinks until the whole
    /// file fits.
    func allocate(_ budget: ByteBudget, source: AdapterSource, calibration: CalibrationStats?, input: String,
                          carriedFP16: Int,
                          encode: ([ModulePipeline.Outcome]) throws(ConversionError) -> Int)
        throws(ConversionError) -> ([ModulePipeline.Outcome], String)
    {
        let specs = source.modules
        let dtype = options.pipeline.scaleDType
        // Each module's outcomes at its candidate binary ranks (both scale layouts unless
        // --scales compact), processed in one parallel pass per set of ranks.
        var outcomes: [[ModulePipeline.Outcome]] = specs.map { _ in [] }
        func add(quarters: [Int]) throws(ConversionError) {
            var jobs: [(module: Int, options: PipelineOptions)] = []
            for (i, spec) in specs.enumerated() {
                for k in BudgetAllocator.candidateRanks(rank: spec.rank, quarters: quarters)
                where !outcomes[i].contains(where: { $0.module.binaryRank == k }) {
                    for compact in options.pipeline.compactScales ? [true] : [false, true] {
                        var o = options.pipeline
                        o.binaryRank = .fixed(k)
                        o.targetError = nil
                        o.compactScales = compact
                        jobs.append((i, o))
                    }
                }
            }
            for (job, outcome) in zip(jobs, try process(source, calibration: calibration, jobs: jobs)) {
                outcomes[job.module].append(outcome)
            }
        }
        try add(quarters: BudgetAllocator.candidateQuarters)
        var choices: [[BudgetAllocator.Option]] = []
        func measure() {
            choices = outcomes.map { list in
                list.map { outcome in
                    let m = outcome.module
                    let e = outcome.errors
                    let relative = e.productError * e.productError
                    return BudgetAllocator.Option(
                        binaryRank: m.binaryRank,
                        bytes: LBALayoutMath.storedModuleBytes(inFeatures: m.inFeatures, outFeatures: m.outFeatures,
                                                               binaryRank: m.binaryRank, scaleDType: dtype,
                                                               inputScales: m.scales.input != nil),
                        objective: options.budgetObjective == .relative ? relative : relative * e.productNorm * e.productNorm)
                }
            }
        }
        measure()
        let fp16 = specs.reduce(0) { $0 + 2 * $1.rank * ($1.inFeatures + $1.outFeatures) } + carriedFP16
        let limit = budget.limit(fp16Bytes: fp16)
        func pick(_ chosen: [Int]) -> [ModulePipeline.Outcome] { chosen.indices.map { outcomes[$0][chosen[$0]] } }
        func largest() -> [Int] { choices.map { options in options.indices.max { options[$0].bytes < options[$1].bytes }! } }
        // The fixed part: what the smallest file takes beyond its modules' estimated bytes.
        let smallest = choices.map { options in options.indices.min { options[$0].bytes < options[$1].bytes }! }
        let smallestBytes = try encode(pick(smallest))
        guard smallestBytes <= limit else {
            throw .budgetTooSmall(input: input, limit: limit, smallest: smallestBytes)
        }
        let fixed = smallestBytes - BudgetAllocator.bytes(smallest, choices)
        // A budget the candidates up to 3r cannot spend: more sign channels are tried too.
        if Double(fixed + BudgetAllocator.bytes(largest(), choices)) < BudgetAllocator.landing * Double(limit) {
            try add(quarters: BudgetAllocator.extendedQuarters)
            measure()
        }
        // The same binary rank (as a share of r) and scale layout for every module: the
        // allocation is never worse than any of these that fits.
        var uniform: [[Int]] = []
        for quarter in BudgetAllocator.candidateQuarters {
            for compact in [false, true] {
                let pick = outcomes.indices.map { i -> Int? in
                    let k = Swift.max(1, (specs[i].rank * quarter + 3) / 4)
                    return outcomes[i].firstIndex { $0.module.binaryRank == k && ($0.module.scales.input == nil) == compact }
                }
                if pick.allSatisfy({ $0 != nil }) { uniform.append(pick.map { $0! }) }
            }
        }
        // Module bytes are estimated raw; zstd and the table make the file differ, so the module
        // limit is corrected by what the encoded file measures: down when over, up when under.
        var moduleLimit = limit - fixed
        var best: (chosen: [Int], bytes: Int)?
        var tried: Set<[Int]> = []
        for _ in 0..<16 {
            guard let chosen = BudgetAllocator.allocate(choices, limit: moduleLimit, references: uniform),
                  tried.insert(chosen).inserted else { break }
            let bytes = try encode(pick(chosen))
            if bytes <= limit {
                best = (chosen, bytes)
                moduleLimit += limit - bytes
                if limit - bytes < LBAFormat.alignment { break }
            } else {
                moduleLimit -= bytes - limit
            }
        }
        // The estimates can misjudge what fits; the uniform choices are checked by their real
        // size, so the result is never worse than any uniform choice that fits.
        func objective(_ chosen: [Int]) -> Double { zip(choices, chosen).reduce(0) { $0 + $1.0[$1.1].objective } }
        for reference in uniform where best.map({ objective(reference) < objective($0.chosen) }) ?? true {
            let bytes = try encode(pick(reference))
            if bytes <= limit { best = (reference, bytes) }
        }
        let (chosen, bytes) = best ?? (smallest, smallestBytes)
        let stored = pick(chosen)
        let ranks = stored.map(\.module.binaryRank).sorted()
        let what: String
        switch budget {
        case .bytes(let b): what = "budget \(b) bytes"
        case .sizeRatio(let x): what = "size ratio \(Format.fixed(x, x.rounded() == x ? 0 : 2))× (\(limit) bytes)"
        }
        var note = "\(what): \(bytes) bytes, binary rank per module \(ranks.first!)–\(ranks.last!) "
            + "(median \(ranks[ranks.count / 2])), \(options.budgetObjective.rawValue) objective"
        if Double(bytes) < BudgetAllocator.landing * Double(limit) {
            let most = largest()
            // Compression makes the estimates inexact: the largest file is at least this one.
            let largestBytes = most == chosen ? bytes : Swift.max(bytes, try encode(pick(most)))
            if largestBytes < limit {
                note += "; the largest file these options allow is \(largestBytes) bytes "
                    + "(\(Format.fixed(Double(fp16) / Double(largestBytes), 2))× vs fp16, every module at its most sign channels)"
            } else {
                note += "; \(limit - bytes) bytes left unspent: no larger choice that fits lowers the error"
            }
        }
        return (stored, note)
    }
}
