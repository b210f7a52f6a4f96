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
        if !options.overwrite, fileExists(output) {
            throw .outputExists(output)
        }
        let source: AdapterSource
        do {
            source = try AdapterSource.open(input, configPath: options.configPath, dropExtra: options.dropExtra)
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
        let outcomes = try processAll(source, calibration: calibration)
        let modules = outcomes.map(\.module)
        let carried = source.carried.map { source.loadCarried($0) }
        var metadata = source.metadata
        metadata["lordba.source_layout"] = source.layout.rawValue
        let adapter = BinaryAdapter(layout: source.layout, modules: modules, carried: carried,
                                    metadata: metadata, scaleDType: options.pipeline.scaleDType)
        let encoded: LBAEncoded
        do {
            encoded = try LBAWriter().write(adapter, to: output, overwrite: options.overwrite)
        } catch {
            throw .output(error)
        }
        var reports = modules.indices.map { i in
            let m = modules[i]
            let scaleCount = (m.scales.input?.count ?? 0) + m.outFeatures
            return ConversionReport.Module(
                name: m.name, kind: m.kind, inFeatures: m.inFeatures, outFeatures: m.outFeatures,
                rank: m.rank, binaryRank: m.binaryRank, scale: m.loraScale, errors: outcomes[i].errors,
                bytes: encoded.moduleBytes[i], signBits: m.binaryRank * (m.inFeatures + m.outFeatures),
                scaleBytes: scaleCount * options.pipeline.scaleDType.byteWidth + m.binaryRank * 4,
                plainProductError: outcomes[i].plainProductError, method: outcomes[i].method)
        }
        if options.compare {
            try addBaselines(to: &reports, source: source)
        }
        var notes = source.notes
        if let calibration {
            let missing = source.modules.filter { calibration.statistics(for: $0.name) == nil }.count
            notes.append("weighted by input statistics from \(calibration.path)" + (missing > 0 ? " (\(missing) modules had none: unweighted)" : ""))
        }
        if !carried.isEmpty {
            notes.append("carried \(carried.count) non-LoRA tensor\(carried.count == 1 ? "" : "s") unchanged (\(carried.map(\.name).prefix(3).joined(separator: ", "))\(carried.count > 3 ? ", …" : ""))")
        }
        let carriedFP16 = carried.reduce(0) { total, t in
            let elements = t.shape.reduce(1, *)
            return total + (t.dtype.isConvertibleFloat ? 2 * elements : t.bytes.count)
        }
        return ConversionReport(
            input: input, weightsPath: source.weightsPath, output: output, layout: source.layout,
            modules: reports, carriedTensors: carried.count, carriedBytes: encoded.carriedBytes,
            carriedFP16Bytes: carriedFP16, bytesIn: source.inputBytes, bytesOut: encoded.bytes.count,
            notes: notes, seconds: (clock.now - start).seconds)
    }

    /// Runs every module of `source` through the pipeline, in parallel, in module order.
    private func processAll(_ source: AdapterSource, calibration: CalibrationStats?) throws(ConversionError)
        -> [ModulePipeline.Outcome]
    {
        let specs = source.modules
        let pipeline = ModulePipeline(options: options.pipeline)
        var slots = [Result<ModulePipeline.Outcome, ConversionError>?](repeating: nil, count: specs.count)
        let path = source.weightsPath
        let scaleDType = options.pipeline.scaleDType
        slots.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            ParallelLoop.run(count: specs.count, threads: options.threads) { i in
                out[i] = Result { () throws(ConversionError) -> ModulePipeline.Outcome in
                    let module: LoRAModule
                    do throws(AdapterError) { module = try source.load(specs[i]) } catch { throw .input(error) }
                    if let (tensor, problem) = NumericLimits.inputProblem(module) {
                        throw .nonFinite(path: path, module: module.name, tensor: tensor, problem: problem)
                    }
                    let outcome = pipeline.run(module, inputSquareMean: calibration?.statistics(for: specs[i].name))
                    if let problem = NumericLimits.outcomeProblem(outcome, scaleDType: scaleDType) {
                        throw .nonFinite(path: path, module: module.name, tensor: nil, problem: problem)
                    }
                    return outcome
                }
            }
        }
        var outcomes: [ModulePipeline.Outcome] = []
        outcomes.reserveCapacity(specs.count)
        for slot in slots {
            switch slot! {
            case .success(let outcome): outcomes.append(outcome)
            case .failure(let error): throw error
            }
        }
        return outcomes
    }

    /// Matched-size baselines for every module, at the bytes the module takes in the `.lba`.
    private func addBaselines(to reports: inout [ConversionReport.Module], source: AdapterSource) throws(ConversionError) {
        let specs = source.modules
        let budgets = reports.map(\.bytes)
        var slots = [Result<BaselineErrors, AdapterError>?](repeating: nil, count: specs.count)
        slots.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            ParallelLoop.run(count: specs.count, threads: options.threads) { i in
                out[i] = Result { () throws(AdapterError) -> BaselineErrors in
                    Baselines.measure(try source.load(specs[i]), budgetBytes: budgets[i])
                }
            }
        }
        for i in reports.indices {
            switch slots[i]! {
            case .success(let baselines): reports[i].baselines = baselines
            case .failure(let error): throw .input(error)
            }
        }
    }

    private func fileExists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
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
    /// A module's numbers leave the Float range (named tensor, or the result's figures).
    case nonFinite(path: String, module: String, tensor: String?, problem: String)

    public var description: String {
        switch self {
        case .input(let e): e.description
        case .output(let e): e.description
        case .outputExists(let path): "\(path): output exists (use --force to replace it)"
        case .calibration(let e): e.description
        case .nonFinite(let path, let module, let tensor, let problem):
            MessageText.escaped("\(path): module \"\(module)\"" + (tensor.map { ": tensor \"\($0)\"" } ?? "") + ": \(problem)")
        }
    }
}
