/// Checks a `.lba` the way a device will run it: the sign kernel against the dense reference,
/// the result against the original LoRA, and the speed of both.
public enum Validator {
    /// Loads and fully validates `path` (a corrupted file is rejected here, before any
    /// computation), opens the reference (and the base weights) when given, and runs every check.
    public static func validate(path: String, options: ValidationOptions = ValidationOptions()) throws(ValidatorError) -> ValidationResult {
        if options.maxError != nil && options.referencePath == nil {
            throw .invalidOptions("--max-error needs --reference: fidelity is measured against the original LoRA")
        }
        if options.basePath != nil && options.referencePath == nil {
            throw .invalidOptions("--base needs --reference: the base weights serve the DoRA fidelity check against the original adapter")
        }
        guard options.tokens >= 1 else { throw .invalidOptions("--tokens must be at least 1") }
        let file: LBAFile
        do { file = try LBAFile(path: path) } catch { throw .lba(error) }
        var reference: AdapterSource?
        if let referencePath = options.referencePath {
            do { reference = try AdapterSource.open(referencePath) } catch { throw .reference(error) }
        }
        let base = try options.basePath.map { (p: String) throws(ValidatorError) in try BaseWeights(path: p) }
        return try validate(file: file, path: path, reference: reference, base: base, options: options)
    }

    /// Runs the checks on an already validated file.
    public static func validate(file: LBAFile, path: String, reference: AdapterSource?, base: BaseWeights? = nil,
                                options: ValidationOptions) throws(ValidatorError) -> ValidationResult {
        let modules = file.adapter.modules
        var specs: [ModuleSpec?] = Array(repeating: nil, count: modules.count)
        if let reference { specs = try match(modules, path: path, reference: reference) }
        try checkMemory(modules, path: path, referenceRanks: specs.map { $0?.rank ?? 0 },
                        withBase: base != nil ? Set(file.doraMagnitudes.keys) : [], options: options)
        var magnitudes: [String: [Float]] = [:]
        if let reference { magnitudes = try matchDoRA(file, path: path, reference: reference) }

        var inputs = InputCache(tokens: options.tokens, seed: options.seed)
        var results: [ModuleValidation] = []
        results.reserveCapacity(modules.count)
        for (i, module) in modules.enumerated() {
            let kernel = SignGEMM(module)
            let dense = DenseLowRank(binary: module)
            let (x, xHalf, xHalfFloat) = inputs.inputs(width: module.inFeatures)
            let count = options.tokens * module.outFeatures
            var ySign = [Float](repeating: 0, count: count)
            var yDense = ySign
            kernel.apply(x, tokens: options.tokens, into: &ySign, threads: options.threads)
            dense.apply(x, tokens: options.tokens, into: &yDense, threads: options.threads)
            var yHalf = [Float](repeating: 0, count: count)
            var yHalfDense = yHalf
            kernel.apply(xHalf, tokens: options.tokens, into: &yHalf, threads: options.threads)
            dense.apply(xHalfFloat, tokens: options.tokens, into: &yHalfDense, threads: options.threads)
            var result = ModuleValidation(
                name: module.name, kind: module.kind, inFeatures: module.inFeatures, outFeatures: module.outFeatures,
                rank: module.loraRank, binaryRank: module.binaryRank,
                kernelDifference: relativeDifference(ySign, yDense),
                kernelDifferenceHalf: relativeDifference(yHalf, yHalfDense))
            if !(result.kernelDifferenceMax <= options.tolerance) {
                result.overflow = Float32Range.overflow(module, x: x, tokens: options.tokens,
                                                        outputs: [ySign, yDense, yHalf, yHalfDense])
            }
            if let reference, let spec = specs[i] {
                let lora: LoRAModule
                do { lora = try reference.load(spec) } catch { throw .reference(error) }
                let loraBranch = DenseLowRank(lora: lora)
                var yLoRA = [Float](repeating: 0, count: count)
                loraBranch.apply(x, tokens: options.tokens, into: &yLoRA, threads: options.threads)
                var (error, energy) = differenceEnergy(ySign, yLoRA)
                if let name = file.doraMagnitudes[module.name], let g = magnitudes[name] {
                    var dora = DoRAValidation(magnitude: name, normsApplied: false, deltaFidelity: ratio(error, energy))
                    if let base, module.kind != .embedding {
                        (error, energy) = try DoRAMath.layerEffect(
                            module: module, base: base, magnitude: g, x: x, tokens: options.tokens, threads: options.threads,
                            lba: (dense, ySign), lora: (loraBranch, yLoRA), into: &dora)
                    }
                    result.dora = dora
                }
                result.errorEnergy = error
                result.referenceEnergy = energy
                result.fidelity = ratio(error, energy)
                result.productError = ErrorAnalysis.analyze(original: lora, binary: module).productError
            }
            results.append(result)
        }

        var timings: [ShapeTiming] = []
        var untimed: [UntimedShape] = []
        var blasConfig: String?
        var blasProblem: String?
        if options.timing {
            var blas: OpenBLAS?
            do {
                let loaded = try OpenBLAS.load()
                loaded.setThreads(options.threads)
                blas = loaded
                blasConfig = "\(loaded.config); core \(loaded.coreName); \(loaded.threads.map(String.init) ?? "?") threads"
            } catch {
                blasProblem = error.description
            }
            (timings, untimed) = time(modules, blas: blas, options: options)
        }
        return ValidationResult(path: path, options: options, modules: results, timings: timings,
                                openBLAS: blasConfig, openBLASProblem: blasProblem, untimedShapes: untimed)
    }

    /// Refuses a module whose checks would need more than ``ValidationOptions/memoryLimit``:
    /// inputs (Float, Float16, Float), five output buffers, the dense reference's factors (at
    /// the binary rank `k`, which the file's sign sections hold), the reference LoRA's factors (at
    /// `referenceRanks`, the rank of the tensors the reference really holds; 0 without one), and
    /// for DoRA modules checked with the base their weight and base outputs. The file's
    /// informational `rank` sizes nothing. Sums in Double so no declared size can overflow.
    /// (Timing bounds its own buffers per shape: ``timingBytes(inFeatures:outFeatures:denseRank:binaryRank:tokens:)``.)
    static func checkMemory(_ modules: [BinaryModule], path: String, referenceRanks: [Int], withBase dora: Set<String>,
                            options: ValidationOptions) throws(ValidatorError) {
        let tokens = Double(options.tokens)
        for (module, referenceRank) in zip(modules, referenceRanks) {
            let inF = Double(module.inFeatures), outF = Double(module.outFeatures)
            var bytes = 4 * (3 * tokens * inF + 5 * tokens * outF + Double(2 * module.binaryRank + referenceRank) * (inF + outF))
            if dora.contains(module.name) { bytes += 4 * (inF * outF + tokens * outF) + 8 * (inF + 2 * outF) }
            guard bytes <= Double(options.memoryLimit) else {
                throw .tooLarge(path: path, module: module.name, bytes: bytes, limit: options.memoryLimit)
            }
        }
    }

    /// The reference's module of each `.lba` module, refusing a reference that does not hold
    /// exactly the `.lba`'s modules with the same shapes.
    static func match(_ modules: [BinaryModule], path: String, reference: AdapterSource) throws(ValidatorError) -> [ModuleSpec?] {
        let byName = Dictionary(reference.modules.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var specs: [ModuleSpec?] = []
        for module in modules {
            guard let spec = byName[module.name] else {
                throw .referenceMismatch(path: reference.weightsPath, module: module.name,
                                         problem: "not in the reference adapter, which has \(reference.modules.count) modules")
            }
            guard spec.inFeatures == module.inFeatures, spec.outFeatures == module.outFeatures else {
                throw .referenceMismatch(
                    path: reference.weightsPath, module: module.name,
                    problem: "shape \(spec.inFeatures)→\(spec.outFeatures) in the reference, \(module.inFeatures)→\(module.outFeatures) in \(path)")
            }
            specs.append(spec)
        }
        let names = Set(modules.map(\.name))
        if let extra = reference.modules.first(where: { !names.contains($0.name) }) {
            throw .referenceMismatch(path: reference.weightsPath, module: extra.name, problem: "in the reference but not in \(path)")
        }
        return specs
    }

    /// The DoRA magnitudes of the `.lba` (name → values), each checked byte-identical (dtype,
    /// shape, bytes) to the reference's tensor of that name; a module that is DoRA in one and not
    /// in the other (e.g. converted with `--drop-extra`) is refused.
    static func matchDoRA(_ file: LBAFile, path: String, reference: AdapterSource) throws(ValidatorError) -> [String: [Float]] {
        let referenceCarried = Dictionary(reference.carried.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let lbaCarried = Dictionary(file.adapter.carried.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var magnitudes: [String: [Float]] = [:]
        for module in file.adapter.modules {
            guard let name = file.doraMagnitudes[module.name] else {
                let expected = CarriedRole.magnitudeName(forModule: module.name)
                if referenceCarried[expected] != nil {
                    throw .referenceMismatch(path: reference.weightsPath, module: module.name,
                                             problem: "DoRA in the reference (\(expected)) but plain LoRA in \(path) (converted with --drop-extra?): its effect differs")
                }
                continue
            }
            guard let stored = lbaCarried[name], let info = referenceCarried[name] else {
                throw .referenceMismatch(path: reference.weightsPath, module: module.name,
                                         problem: "DoRA in \(path) with magnitude \(name), which the reference does not hold")
            }
            let original = reference.loadCarried(info)
            guard original.dtype == stored.dtype, original.shape == stored.shape, original.bytes == stored.bytes else {
                throw .referenceMismatch(path: reference.weightsPath, module: module.name,
                                         problem: "DoRA magnitude \(name) differs from the one in \(path)")
            }
            guard stored.dtype.isConvertibleFloat else {
                throw .referenceMismatch(path: path, module: module.name,
                                         problem: "DoRA magnitude \(name) has dtype \(stored.dtype.rawValue), not a float type")
            }
            var values = [Float](repeating: 0, count: module.outFeatures)
            stored.bytes.withUnsafeBytes { raw in
                values.withUnsafeMutableBufferPointer { stored.dtype.decodeFloats(raw, count: module.outFeatures, into: $0) }
            }
            guard values.allSatisfy(\.isFinite) else {
                throw .referenceMismatch(path: path, module: module.name, problem: "DoRA magnitude \(name) has a non-finite value")
            }
            magnitudes[name] = values
        }
        return magnitudes
    }

    /// `√(error/energy)` (0 when both are zero, 1 when only the energy is).
    static func ratio(_ error: Double, _ energy: Double) -> Double {
        energy > 0 ? (error / energy).squareRoot() : (error == 0 ? 0 : 1)
    }

    /// `‖a − b‖_F/‖b‖_F`, accumulated in Double (0 when both are zero, 1 when only `b` is).
    public static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        let (difference, reference) = differenceEnergy(a, b)
        if reference > 0 { return (difference / reference).squareRoot() }
        return difference == 0 ? 0 : 1
    }

    /// `(‖a − b‖², ‖b‖²)` in Double.
    static func differenceEnergy(_ a: [Float], _ b: [Float]) -> (Double, Double) {
        precondition(a.count == b.count)
        var difference = 0.0, reference = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            difference += d * d
            reference += Double(b[i]) * Double(b[i])
        }
        return (difference, reference)
    }
}
