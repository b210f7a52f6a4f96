import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Options of one conversion; the defaults are what `lordba-convert` does with no flags.
public struct ConversionOptions: Sendable {
    /// `adapter_config.json` to use instead of the one beside the weights.
    public var configPath: String?
    /// Leave tensors that are not LoRA pairs out of the `.lba`.
    public var dropExtra = false
    /// The adapter to convert from a file whose keys name several (`lora_A.<name>.weight`).
    public var adapterName: String?
    /// How each module is factorized, binarized and refined (`scaleDType` included).
    public var pipeline = PipelineOptions()
    /// Per-module input statistics that weight the refinement objective (`--calibration`).
    public var calibrationPath: String?
    /// Also measure what the same bytes buy with other compressions (`--compare`).
    public var compare = false
    /// Replace an existing output file.
    public var overwrite = false
    /// Worker threads for the modules of one adapter (the output does not depend on it).
    public var threads = ProcessInfoCores.count
    /// A size target for the file: each module's binary rank is then chosen to fit it
    /// (`--budget`, `--size-ratio`); `pipeline.binaryRank` and `targetError` are not used.
    public var budget: ByteBudget?
    /// What the budget allocation minimises.
    public var budgetObjective = BudgetObjective.relative
    /// Called (on a worker thread) as each module finishes: how many of the current pass's
    /// modules are done, and how many it has. For progress display only; never changes the output.
    public var moduleFinished: (@Sendable (_ done: Int, _ total: Int) -> Void)?

    public init() {}
}

/// Runs the pipeline on one adapter: read → binarize → measure → write.
///
/// Modules are read, binarized and measured in parallel, one at a time per worker, and each
/// module's input pages are released after use, so memory stays near the size of the output.
/// Results are placed by module index, so the file is byte-identical for any thread count.
public struct Converter: Sendable {
    public var options: ConversionOptions

    public init(options: ConversionOptions = ConversionOptions()) {
        self.options = options
    }

    /// Converts `input` (a safetensors file or an adapter folder) into the `.lba` at `output`.
    /// Nothing is written unless every module converts.
    public func convert(input: String, output: String) throws(ConversionError) -> ConversionReport {
        let clock = ContinuousClock()
        let start = clock.now
        if !options.overwrite, FileSystem.exists(output) {
            throw .outputExists(output)
        }
        let source: AdapterSource
        do {
            source = try AdapterSource.open(input, configPath: options.configPath, dropExtra: options.dropExtra,
                                            adapterName: options.adapterName)
        } catch {
            throw .input(error)
        }
        var calibration: CalibrationStats?
        if let path = options.calibrationPath {
            do { calibration = try CalibrationStats(path: path) } catch { throw .calibration(error) }
            for spec in source.modules {
                if let d = calibration?.statistics(for: spec.name), d.count != spec.inFeatures {
                    throw .calibration(.mismatch(path: path, module: spec.name, count: d.count, expected: spec.inFeatures))
                }
            }
        }
        let carried = ConversionMetadata.withRoles(source.carried.map { source.loadCarried($0) }, source: source)
        let carriedFP16 = carried.reduce(0) { total, t in
            let elements = t.shape.reduce(1, *)
            return total + (t.dtype.isConvertibleFloat ? 2 * elements : t.bytes.count)
        }
        var metadata = source.metadata
        func adapter(_ outcomes: [ModulePipeline.Outcome]) -> BinaryAdapter {
            BinaryAdapter(layout: source.layout, modules: outcomes.map(\.module), carried: carried,
                          metadata: metadata, scaleDType: options.pipeline.scaleDType)
        }
        var budgetNote: String?
        let outcomes: [ModulePipeline.Outcome]
        let recorded: [String: String]
        if let budget = options.budget {
            recorded = try conversionMetadata(source)
            metadata.merge(recorded) { _, recorded in recorded }
            (outcomes, budgetNote) = try allocate(budget, source: source, calibration: calibration, input: input,
                                                  carriedFP16: carriedFP16,
                                                  encode: { (o) throws(ConversionError) in try Self.encoded(adapter(o)) })
        } else {
            // The input's SHA-256 (for the conversion record) is taken while the modules convert,
            // as the first task of the parallel map; its failure is reported before any module's.
            let hashed = Mutex<Result<[String: String], ConversionError>?>(nil)
            let processed = Result { () throws(ConversionError) in
                try process(source, calibration: calibration, jobs: source.modules.indices.map { ($0, options.pipeline) },
                            alongside: { let entries = Result { () throws(ConversionError) in try conversionMetadata(source) }
                                         hashed.withLock { $0 = entries } })
            }
            recorded = try hashed.withLock { $0! }.get()
            outcomes = try processed.get()
            metadata.merge(recorded) { _, recorded in recorded }
        }
        let modules = outcomes.map(\.module)
        let encoded: EncodedLBAFile
        do {
            encoded = try LBAWriter(compression: true, threads: options.threads)
                .write(adapter(outcomes), to: output, overwrite: options.overwrite)
        } catch {
            throw .output(error)
        }
        var reports = modules.indices.map { i in
            let m = modules[i]
            return ConversionReport.Module(
                name: m.name, kind: m.kind, inFeatures: m.inFeatures, outFeatures: m.outFeatures,
                rank: m.loraRank, binaryRank: m.binaryRank, scale: m.loraScale, errors: outcomes[i].errors,
                bytes: encoded.moduleBytes[i], signBits: m.binaryRank * (m.inFeatures + m.outFeatures),
                scaleBytes: LBALayoutMath.scaleBytes(inFeatures: m.inFeatures, outFeatures: m.outFeatures, binaryRank: m.binaryRank,
                                                     scaleDType: options.pipeline.scaleDType, inputScales: m.scales.input != nil),
                plainProductError: outcomes[i].plainProductError, method: outcomes[i].method.description)
        }
        if options.compare {
            try addBaselines(to: &reports, source: source)
        }
        var notes = source.notes
        if let budgetNote { notes.append(budgetNote) }
        if options.dropExtra {
            let magnitudes = source.file.tensors.filter { $0.name.hasSuffix(CarriedRole.magnitudeSuffix) }.count
            if magnitudes > 0 {
                notes.append("--drop-extra left out \(magnitudes) DoRA magnitude\(magnitudes == 1 ? "" : "s"): those modules now run as plain LoRA, which changes their effect")
            }
        }
        if let calibration {
            let missing = source.modules.filter { calibration.statistics(for: $0.name) == nil }.count
            notes.append("weighted by input statistics from \(calibration.path)" + (missing > 0 ? " (\(missing) modules had none: unweighted)" : ""))
        }
        if !carried.isEmpty {
            notes.append("carried \(carried.count) non-LoRA tensor\(carried.count == 1 ? "" : "s") unchanged (\(carried.map(\.name).prefix(3).joined(separator: ", "))\(carried.count > 3 ? ", …" : ""))")
        }
        var report = ConversionReport(
            input: input, weightsPath: source.weightsPath, output: output, layout: source.layout,
            modules: reports, carriedTensors: carried.count, carriedBytes: encoded.carriedBytes,
            carriedFP16Bytes: carriedFP16, bytesIn: source.inputBytes, bytesOut: encoded.bytes.count,
            notes: notes, seconds: (clock.now - start).seconds)
        report.provenance = options.provenance(recorded: recorded, configPath: source.configPath)
        return report
    }

    /// Runs `jobs` (a module index and the options to run it with) in parallel; results in job
    /// order. `alongside`, when given, runs first as one more task (on one thread while the
    /// others start on the modules).
    func process(_ source: AdapterSource, calibration: CalibrationStats?,
                 jobs: [(module: Int, options: PipelineOptions)],
                 alongside: (@Sendable () -> Void)? = nil) throws(ConversionError) -> [ModulePipeline.Outcome] {
        let specs = source.modules
        let path = source.weightsPath
        let finished = Atomic<Int>(0)
        let hook = options.moduleFinished
        let first = alongside == nil ? 0 : 1
        // A module with a large share of the work (one of fewer modules than threads, or a
        // large one among few) also gets threads inside it, so few large modules still scale.
        let work = jobs.map { Double(specs[$0.module].rank) * Double(specs[$0.module].inFeatures + specs[$0.module].outFeatures) }
        let totalWork = work.reduce(0, +)
        let threads = options.threads
        let results = try ParallelLoop.map(count: first + jobs.count, threads: options.threads) {
            (task) throws(ConversionError) -> ModulePipeline.Outcome? in
            if task < first {
                alongside?()
                return nil
            }
            let j = task - first
            // Counted when the module is done, whether it succeeded or failed.
            defer { if let hook { hook(finished.add(1, ordering: .relaxed).newValue, jobs.count) } }
            let (i, pipelineOptions) = jobs[j]
            let module: LoRAModule
            do throws(AdapterError) { module = try source.load(specs[i]) } catch { throw .input(error) }
            if let (tensor, problem) = NumericLimits.inputProblem(module) {
                throw .nonFinite(path: path, module: module.name, tensor: tensor, problem: problem)
            }
            let inner = threads > 1 && work[j] * Double(2 * threads) >= totalWork ? threads : 1
            let outcome = ModulePipeline(options: pipelineOptions, threads: inner)
                .run(module, inputSquareMean: calibration?.statistics(for: specs[i].name))
            if let problem = NumericLimits.outcomeProblem(outcome, scaleDType: pipelineOptions.scaleDType) {
                throw .nonFinite(path: path, module: module.name, tensor: nil, problem: problem)
            }
            return outcome
        }
        return results.compactMap { $0 }
    }

    /// Matched-size baselines for every module, at the bytes the module takes in the `.lba`.
    private func addBaselines(to reports: inout [ConversionReport.Module], source: AdapterSource) throws(ConversionError) {
        let specs = source.modules
        let budgets = reports.map(\.bytes)
        let baselines = try ParallelLoop.map(count: specs.count, threads: options.threads) { (i) throws(ConversionError) -> BaselineErrors in
            do throws(AdapterError) { return Baselines.measure(try source.load(specs[i]), budgetBytes: budgets[i]) } catch {
                throw .input(error)
            }
        }
        for i in reports.indices { reports[i].baselines = baselines[i] }
    }

    /// The `lordba.*` entries describing this conversion (``ConversionMetadata``).
    private func conversionMetadata(_ source: AdapterSource) throws(ConversionError) -> [String: String] {
        let inputHash: String
        do { inputHash = try SHA256.hex(ofFile: source.weightsPath) } catch {
            throw .input(.safetensors(.cannotOpen(path: source.weightsPath, reason: error.description)))
        }
        let calibrationHash = options.calibrationPath.flatMap { try? SHA256.hex(ofFile: $0) }
        return ConversionMetadata.entries(source: source, options: options, inputSHA256: inputHash,
                                          calibrationSHA256: calibrationHash)
    }
}

/// Why a conversion failed; the description is one line naming the file and the problem.
public enum ConversionError: Error, CustomStringConvertible {
    /// The input could not be read or is not a LoRA adapter we can take.
    case input(AdapterError)
    /// The output could not be written.
    case output(LBAError)
    /// The output exists and `--force` was not given.
    case outputExists(String)
    /// The calibration statistics could not be used.
    case calibration(CalibrationError)
    /// Even with every module at its smallest binary rank the file exceeds the byte budget.
    case budgetTooSmall(input: String, limit: Int, smallest: Int)
    /// A module's numbers leave the Float range (named tensor, or the result's figures).
    case nonFinite(path: String, module: String, tensor: String?, problem: String)

    public var description: String {
        switch self {
        case .input(let e): e.description
        case .output(let e): e.description
        case .outputExists(let path): "\(path): output exists (use --force to replace it)"
        case .calibration(let e): e.description
        case .budgetTooSmall(let input, let limit, let smallest):
            "\(input): the byte budget (\(limit) bytes) is below the smallest file this adapter makes "
                + "(\(smallest) bytes, every module at its smallest binary rank)"
        case .nonFinite(let path, let module, let tensor, let problem):
            MessageText.escaped("\(path): module \"\(module)\"" + (tensor.map { ": tensor \"\($0)\"" } ?? "") + ": \(problem)")
        }
    }
}
