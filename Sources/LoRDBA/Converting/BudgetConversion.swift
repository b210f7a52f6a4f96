extension Converter {
    static func encoded(_ adapter: BinaryAdapter) throws(ConversionError) -> Int {
        do { return try LBAWriter().encode(adapter).bytes.count } catch { throw .output(error) }
    }

    /// Every module at each of its candidate binary ranks, then the allocation within `budget`:
    /// the outcomes to store and a note for the summary. The file's fixed part (preamble, table,
    /// carried tensors) is measured by encoding, and the module limit shrinks until the whole
    /// file fits.
    func allocate(_ budget: ByteBudget, source: AdapterSource, calibration: CalibrationStats?, input: String,
                          carriedFP16: Int,
                          encode: ([ModulePipeline.Outcome]) throws(ConversionError) -> Int)
        throws(ConversionError) -> ([ModulePipeline.Outcome], String)
    {
        let specs = source.modules
        var jobs: [(module: Int, options: PipelineOptions)] = []
        var ranges: [Range<Int>] = []
        for (i, spec) in specs.enumerated() {
            let start = jobs.count
            for k in BudgetAllocator.candidateRanks(rank: spec.rank) {
                for compact in options.pipeline.compactScales ? [true] : [false, true] {
                    var o = options.pipeline
                    o.binaryRank = .fixed(k)
                    o.targetError = nil
                    o.compactScales = compact
                    jobs.append((i, o))
                }
            }
            ranges.append(start..<jobs.count)
        }
        let all = try process(source, calibration: calibration, jobs: jobs)
        let dtype = options.pipeline.scaleDType
        let choices: [[BudgetAllocator.Option]] = ranges.map { range in
            range.map { j in
                let m = all[j].module
                let e = all[j].errors
                let relative = e.productError * e.productError
                return BudgetAllocator.Option(
                    binaryRank: m.binaryRank,
                    bytes: LBALayoutMath.storedModuleBytes(inFeatures: m.inFeatures, outFeatures: m.outFeatures,
                                                           binaryRank: m.binaryRank, scaleDType: dtype,
                                                           inputScales: m.scales.input != nil),
                    objective: options.budgetObjective == .relative ? relative : relative * e.productNorm * e.productNorm)
            }
        }
        // The same binary rank (as a share of r) and scale layout for every module: the
        // allocation is never worse than any of these that fits.
        var uniform: [[Int]] = []
        for quarter in [1, 2, 3, 4, 6, 8, 12] {
            for compact in [false, true] {
                let pick = ranges.indices.map { i -> Int? in
                    let k = Swift.max(1, (specs[i].rank * quarter + 3) / 4)
                    return ranges[i].firstIndex { all[$0].module.binaryRank == k && (all[$0].module.scales.input == nil) == compact }
                        .map { $0 - ranges[i].lowerBound }
                }
                if pick.allSatisfy({ $0 != nil }) { uniform.append(pick.map { $0! }) }
            }
        }
        let fp16 = specs.reduce(0) { $0 + 2 * $1.rank * ($1.inFeatures + $1.outFeatures) } + carriedFP16
        let limit = budget.limit(fp16Bytes: fp16)
        func pick(_ chosen: [Int]) -> [ModulePipeline.Outcome] { chosen.indices.map { all[ranges[$0].lowerBound + chosen[$0]] } }
        // The fixed part: what the smallest file takes beyond its modules' estimated bytes.
        let smallest = choices.map { options in options.indices.min { options[$0].bytes < options[$1].bytes }! }
        let smallestBytes = try encode(pick(smallest))
        guard smallestBytes <= limit else {
            throw .budgetTooSmall(input: input, limit: limit, smallest: smallestBytes)
        }
        // Module bytes are estimated raw; zstd and the table make the file differ, so the module
        // limit is corrected by what the encoded file measures: down when over, up when under.
        var moduleLimit = limit - (smallestBytes - zip(choices, smallest).reduce(0) { $0 + $1.0[$1.1].bytes })
        var best: (chosen: [Int], bytes: Int)?
        var tried: Set<[Int]> = []
        for _ in 0..<8 {
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
        let outcomes = pick(chosen)
        let ranks = outcomes.map(\.module.binaryRank).sorted()
        let what: String
        switch budget {
        case .bytes(let b): what = "budget \(b) bytes"
        case .sizeRatio(let x): what = "size ratio \(Format.fixed(x, x.rounded() == x ? 0 : 2))× (\(limit) bytes)"
        }
        return (outcomes, "\(what): \(bytes) bytes, binary rank per module \(ranks.first!)–\(ranks.last!) "
                + "(median \(ranks[ranks.count / 2])), \(options.budgetObjective.rawValue) objective")
    }
}
